/**
 * The flags that make a node's config, shared by `bwnode start` (which runs it) and `bwnode config
 * show` (which prints it): file < environment < these flags (src/config/load.ts).
 */
import type { Command } from 'commander'
import { DEFAULT_UPLINK_MBPS } from '../config/defaults.ts'
import { isLoopbackHost } from '../config/loopback.ts'
import type { BwnodeConfig } from '../config/schema.ts'
import { UsageError } from '../errors/index.ts'
import { collect, parseDecimal, parseInteger } from './common.ts'

export interface NodeOptions {
  config?: string
  data?: string
  listen?: string[]
  bootstrap?: string[]
  announce?: string[]
  apiPort?: number
  uplink?: number
  apiHost?: string
  allowRemoteApi?: boolean
}

/** 1 Tbit/s: anything above is a typo, not a home line. */
const MAX_UPLINK_MBPS = 1_000_000

/**
 * --api-host: the API binds to loopback unless told otherwise, and anything
 * else needs --allow-remote-api as well (reads need no token).
 */
export function withApiHost(
  config: BwnodeConfig,
  host: string | undefined,
  allowRemote: boolean,
): BwnodeConfig {
  if (host === undefined) return config
  const loopback = isLoopbackHost(host)
  if (!loopback && !allowRemote) {
    throw new UsageError(
      `--api-host ${host} is not a loopback address: add --allow-remote-api to expose the API to other machines`,
    )
  }
  return { ...config, api: { ...config.api, host, allowRemote: config.api.allowRemote || !loopback } }
}

export function nodeOptions(command: Command): Command {
  return command
    .option('--config <file>', 'JSON config file (see node-configs/; default: BWNODE_CONFIG)')
    .option('--data <dir>', 'data dir (identity, LevelDB, chunks)')
    .option('--listen <multiaddr>', 'listen address (repeatable)', collect)
    .option('--announce <multiaddr>', 'address to announce instead of listen ones (repeatable)', collect)
    .option('--bootstrap <multiaddr>', 'bootstrap peer /ip4/.../tcp/.../p2p/<id> (repeatable)', collect)
    .option(
      '--uplink <mbps>',
      `uplink lent to peers for this run, Mbit/s (default ${DEFAULT_UPLINK_MBPS}, or the config's offer.uplinkMbps; 0 = no cap)`,
      parseDecimal('--uplink (Mbit/s)', 0, MAX_UPLINK_MBPS),
    )
    .option(
      '--api-port <n>',
      'HTTP API port (default: api.port, else one chosen once for the data dir and kept in <data>/api-port; 0 = any free port each run)',
      parseInteger('--api-port', 0, 65535),
    )
    .option(
      '--api-host <host>',
      'HTTP API address (default 127.0.0.1); non-loopback needs --allow-remote-api',
    )
    .option('--allow-remote-api', 'allow --api-host to be an address other machines can reach')
}

/** The config these flags, the environment (BWNODE_*) and the config file make. */
export async function nodeConfig(options: NodeOptions): Promise<BwnodeConfig> {
  // Loaded here, not at the top: `bwnode --help` and the API commands never need zod.
  const { loadConfig, overridesFromEnv } = await import('../config/load.ts')
  const file = options.config ?? (process.env.BWNODE_CONFIG || undefined)
  const loaded = await loadConfig(file, {
    ...overridesFromEnv(process.env),
    ...(options.data === undefined ? {} : { dataDir: options.data }),
    ...(options.listen === undefined ? {} : { listen: options.listen }),
    ...(options.announce === undefined ? {} : { announce: options.announce }),
    ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
    ...(options.apiPort === undefined ? {} : { apiPort: options.apiPort }),
    ...(options.uplink === undefined ? {} : { uplinkMbps: options.uplink }),
  })
  return withApiHost(loaded, options.apiHost, options.allowRemoteApi === true)
}
