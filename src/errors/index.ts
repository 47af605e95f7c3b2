/**
 * Error classes with a stable `code`. The CLI maps them to exit codes and to
 * `{error: {code, message}}` in --json mode; peers see only the code.
 */
export class BwnodeError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BwnodeError'
    this.code = code
  }
}

/** Bad configuration or bad data dir: the daemon refuses to start (exit code 2). */
export class ConfigError extends BwnodeError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', message, options)
    this.name = 'ConfigError'
  }
}

/** Bad command-line usage (exit code 2). */
export class UsageError extends BwnodeError {
  constructor(message: string) {
    super('ERR_USAGE', message)
    this.name = 'UsageError'
  }
}

/** Something a peer sent that breaks the protocol. Counted against the peer, never fatal. */
export class ProtocolError extends BwnodeError {
  constructor(code: string, message: string) {
    super(code, message)
    this.name = 'ProtocolError'
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function errorCode(err: unknown): string {
  if (err instanceof BwnodeError) return err.code
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code
  return 'ERR_INTERNAL'
}
