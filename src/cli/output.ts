import { ERR } from '../errors/codes.ts'
import { BwnodeError, ConfigError, errorCode, errorMessage, UsageError } from '../errors/index.ts'

/**
 * People get plain text; programs pass --json and get JSON on stdout, with
 * errors as `{error: {code, message}}`. Exit codes: 0 ok, 1 failure, 2 bad
 * config or usage.
 */
export interface OutputOptions {
  json?: boolean
}

/** Exit code of a command stopped by Ctrl-C (128 + SIGINT), the shell's convention. */
export const EXIT_SIGINT = 130

export function emit<T>(options: OutputOptions, data: T, human: (data: T) => string): void {
  if (options.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
  else {
    const text = human(data)
    if (text.length > 0) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }
}

export function exitCodeFor(err: unknown): number {
  return err instanceof ConfigError || err instanceof UsageError || errorCode(err) === ERR.USAGE ? 2 : 1
}

export function reportError(err: unknown, json: boolean): number {
  const code = errorCode(err)
  const message = errorMessage(err)
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`)
  else process.stderr.write(`bwnode: ${message}\n`)
  if (process.env.BWNODE_DEBUG && err instanceof Error && !(err instanceof BwnodeError)) {
    process.stderr.write(`${err.stack}\n`)
  }
  return exitCodeFor(err)
}
