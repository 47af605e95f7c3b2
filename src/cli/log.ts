/**
 * What `bwnode start` writes to stderr, by level (--log-level, BWNODE_LOG_LEVEL). The ready line
 * is stdout and always printed; failures always are. bwnode's and libp2p's debug logs are
 * @libp2p/logger namespaces (the `debug` module's syntax): a level turns some on, and DEBUG=...
 * still adds any others.
 */
import { Option } from 'commander'
import { UsageError } from '../errors/index.ts'

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export const DEFAULT_LOG_LEVEL: LogLevel = 'info'

export function logLevelOption(): Option {
  return new Option(
    '--log-level <level>',
    "what the daemon writes to stderr: error (failures only), warn (+ warnings, bwnode's error logs), " +
      "info (+ start and stop notices; the default), debug (+ bwnode's debug logs), trace (+ libp2p's); " +
      'default BWNODE_LOG_LEVEL, else info',
  ).choices(LOG_LEVELS)
}

/** The level asked for: the flag, else BWNODE_LOG_LEVEL, else info. */
export function logLevelFrom(flag: LogLevel | undefined, env: NodeJS.ProcessEnv): LogLevel {
  if (flag !== undefined) return flag
  const value = env.BWNODE_LOG_LEVEL
  if (value === undefined || value === '') return DEFAULT_LOG_LEVEL
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new UsageError(`BWNODE_LOG_LEVEL=${value} is not a log level (${LOG_LEVELS.join(', ')})`)
  }
  return value as LogLevel
}

/** The debug namespaces a level turns on. */
export function debugNamespaces(level: LogLevel): string | undefined {
  switch (level) {
    case 'error':
      return undefined
    case 'warn':
    case 'info':
      return 'bwnode:*:error'
    case 'debug':
      return 'bwnode:*,-bwnode:*:trace'
    case 'trace':
      return 'bwnode:*,libp2p:*'
  }
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 }

export class Log {
  readonly level: LogLevel
  private readonly write: (line: string) => void

  constructor(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)) {
    this.level = level
    this.write = write
  }

  error(message: string): void {
    this.write(`bwnode: ${message}\n`)
  }

  warn(message: string): void {
    if (RANK[this.level] >= RANK.warn) this.write(`bwnode: warning: ${message}\n`)
  }

  info(message: string): void {
    if (RANK[this.level] >= RANK.info) this.write(`bwnode: ${message}\n`)
  }

  /** Turns on the level's debug namespaces, beside those DEBUG names. */
  async enableDebugLogs(): Promise<void> {
    const namespaces = debugNamespaces(this.level)
    if (namespaces === undefined) return
    const { enable } = await import('@libp2p/logger')
    enable([process.env.DEBUG, namespaces].filter((part) => part !== undefined && part !== '').join(','))
  }
}
