import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Command, InvalidArgumentError } from 'commander'
import { ApiClient } from '../client/api-client.ts'
import { API_FILE, type ApiFile } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { emit, reportError } from './output.ts'

export interface DaemonOptions {
  json?: boolean
  data?: string
  api?: string
  token?: string
  /** --timeout, in seconds. */
  timeout?: number
}

/** Options shared by every command that talks to a running daemon. */
export function daemonCommand(command: Command): Command {
  return command
    .option('--data <dir>', 'data dir of the daemon (reads <dir>/api.json)')
    .option('--api <url>', 'API URL of the daemon (overrides --data)')
    .option(
      '--token <token>',
      'API token for calls that change state (default: BWNODE_API_TOKEN, or api.json)',
    )
    .option(
      '--timeout <seconds>',
      'give up after this many seconds (default: no limit)',
      parseDecimal('--timeout', 0.001, 86_400),
    )
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
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout * 1000 }),
  })
}

/** LevelDB holds a lock on its directory while a process has it open. */
function isDatabaseLocked(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === 'LEVEL_LOCKED') return true
    if (/\block\b.*(temporarily unavailable|already held|resource busy)/i.test(e.message)) return true
  }
  return false
}

/**
 * A data dir whose database another process holds open (a daemon already running on it) said
 * plainly, with that daemon's API URL when its api.json tells it; any other error as it is.
 */
export async function explainDataDirInUse(err: unknown, dataDir: string): Promise<unknown> {
  if (!isDatabaseLocked(err)) return err
  let running = ''
  try {
    const file = JSON.parse(await readFile(join(dataDir, API_FILE), 'utf8')) as ApiFile
    if (typeof file.url === 'string') running = ` (its API is ${file.url})`
  } catch {
    // No api.json: the other process may still be starting, or be `bwnode init`.
  }
  return new BwnodeError(
    ERR.DATA_DIR_IN_USE,
    `data dir ${dataDir} is in use by another bwnode process${running}: ` +
      'one data dir serves one daemon; stop the other one, or give this one its own --data DIR',
    { cause: err },
  )
}
