import { type Command, InvalidArgumentError } from 'commander'
import { ApiClient } from './api-client.ts'
import { emit, reportError } from './output.ts'

export interface DaemonOptions {
  json?: boolean
  data?: string
  api?: string
}

/** Options shared by every command that talks to a running daemon. */
export function daemonCommand(command: Command): Command {
  return command
    .option('--data <dir>', 'data dir of the daemon (reads <dir>/api.json)')
    .option('--api <url>', 'API URL of the daemon (overrides --data)')
    .option('--json', 'print JSON for programs')
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value)
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
    }
    return parsed
  }
}

export function parseDecimal(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value)
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`)
    }
    return parsed
  }
}

/**
 * Runs a command body, prints its result for people or programs, and turns
 * errors into a message and exit code (never a stack trace).
 */
export async function run<T>(
  options: { json?: boolean },
  body: () => Promise<T>,
  human: (data: T) => string,
): Promise<void> {
  try {
    const data = await body()
    emit(options, data, human)
  } catch (err) {
    process.exitCode = reportError(err, options.json === true)
  }
}

export async function client(options: DaemonOptions): Promise<ApiClient> {
  return ApiClient.locate({
    ...(options.api === undefined ? {} : { api: options.api }),
    ...(options.data === undefined ? {} : { data: options.data }),
  })
}
