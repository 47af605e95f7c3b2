import { ERR, type ErrorCode, type RelayedCode } from './codes.ts'

/**
 * Error classes with a stable `code`. The CLI maps them to exit codes and to
 * `{error: {code, message}}` in --json mode; peers see only the code.
 */
export class BwnodeError extends Error {
  readonly code: string

  constructor(code: ErrorCode | RelayedCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BwnodeError'
    this.code = code
  }
}

/** Bad configuration or bad data dir: the daemon refuses to start (exit code 2). */
export class ConfigError extends BwnodeError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERR.CONFIG, message, options)
    this.name = 'ConfigError'
  }
}

/** Bad command-line usage (exit code 2). */
export class UsageError extends BwnodeError {
  constructor(message: string) {
    super(ERR.USAGE, message)
    this.name = 'UsageError'
  }
}

/** Something a peer sent that breaks the protocol. Counted against the peer, never fatal. */
export class ProtocolError extends BwnodeError {
  constructor(code: ErrorCode | RelayedCode, message: string) {
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
  return ERR.INTERNAL
}

/**
 * Does this error (or one it wraps) say the disk is full? Node's fs reports ENOSPC; LevelDB
 * reports an IO error whose text carries the operating system's "No space left on device".
 */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === 'ENOSPC' || /no space left on device/i.test(e.message)) return true
  }
  return false
}

/** The disk holding the data dir is full: nothing was corrupted, but nothing more can be stored. */
export class DiskFullError extends BwnodeError {
  constructor(detail: string, options?: ErrorOptions) {
    super(
      ERR.DISK_FULL,
      `no space left on the disk holding the data dir (${detail}); ` +
        'free some space (or remove datasets) and retry: what was stored so far is kept',
      options,
    )
    this.name = 'DiskFullError'
  }
}

/** A full disk said plainly; any other error as it is. */
export function explainDiskFull(err: unknown): unknown {
  return err instanceof DiskFullError || !isDiskFull(err)
    ? err
    : new DiskFullError(errorMessage(err), { cause: err })
}
