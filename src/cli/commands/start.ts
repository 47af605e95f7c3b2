import type { Command } from 'commander'
import { DEFAULT_UPLINK_MBPS } from '../../config/defaults.ts'
import { isLoopbackHost } from '../../config/loopback.ts'
import type { BwnodeConfig } from '../../config/schema.ts'
import type { RunningDaemon } from '../../daemon/daemon.ts'
import { UsageError } from '../../errors/index.ts'
import { collect, explainDataDirInUse, parseDecimal, parseInteger } from '../common.ts'
import { reportError } from '../output.ts'

interface StartOptions {
  config?: string
  data?: string
  listen?: string[]
  bootstrap?: string[]
  announce?: string[]
  apiPort?: number
  uplink?: number
  apiHost?: string
  allowRemoteApi?: boolean
  json?: boolean
}

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

/** 1 Tbit/s: anything above is a typo, not a home line. */
const MAX_UPLINK_MBPS = 1_000_000

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run a node: libp2p peer, private DHT, local HTTP API; prints one "bwnode ready" line')
    .option('--config <file>', 'JSON config file (see node-configs/)')
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
    .option('--json', 'print the ready line and errors as JSON')
    .action(async (options: StartOptions) => {
      // Signals are handled from the first moment: a stop asked for while the node is still
      // starting is carried out as soon as it is up, instead of killing it mid-start.
      // A clean stop exits 0 on SIGTERM (service managers) and 130 on SIGINT (the shell's
      // convention for Ctrl-C).
      let daemon: RunningDaemon | undefined
      let stopRequested = false
      let exitCode = 0
      let signals = 0
      const stopNow = (running: RunningDaemon): void => {
        running.stop().then(
          () => process.exit(exitCode),
          (err: unknown) => process.exit(reportError(err, options.json === true)),
        )
      }
      const shutdown = (why: string): void => {
        signals += 1
        if (signals > 1) process.exit(130)
        if (why === 'SIGINT') exitCode = 130
        process.stderr.write(`bwnode: ${why}, shutting down\n`)
        if (daemon === undefined) stopRequested = true
        else stopNow(daemon)
      }
      process.on('SIGINT', () => shutdown('SIGINT'))
      process.on('SIGTERM', () => shutdown('SIGTERM'))
      let dataDir: string | undefined
      try {
        // Loaded here, not at the top: `bwnode --help` and the API commands never need the node.
        const { loadConfig, overridesFromEnv } = await import('../../config/load.ts')
        const { startDaemon } = await import('../../daemon/daemon.ts')
        const loaded = await loadConfig(options.config, {
          ...overridesFromEnv(process.env),
          ...(options.data === undefined ? {} : { dataDir: options.data }),
          ...(options.listen === undefined ? {} : { listen: options.listen }),
          ...(options.announce === undefined ? {} : { announce: options.announce }),
          ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
          ...(options.apiPort === undefined ? {} : { apiPort: options.apiPort }),
          ...(options.uplink === undefined ? {} : { uplinkMbps: options.uplink }),
        })
        const config = withApiHost(loaded, options.apiHost, options.allowRemoteApi === true)
        dataDir = config.dataDir
        daemon = await startDaemon(config, {
          notice: (message) => process.stderr.write(`bwnode: ${message}\n`),
          onShutdownRequest: () => shutdown('shutdown asked over the API'),
        })
        // Last line of defence for "nothing a peer sends may crash the node": a rejection that
        // escaped every handler is logged, and the node keeps serving.
        process.on('unhandledRejection', (reason) => {
          const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)
          process.stderr.write(`bwnode: unhandled rejection (node keeps running): ${text}\n`)
        })
        if (!isLoopbackHost(config.api.host)) {
          process.stderr.write(
            `bwnode: warning: the HTTP API listens on ${daemon.api.url}, reachable from other machines; ` +
              'anyone who can reach it can read this node (changes still need the token)\n',
          )
        }
        if (options.json === true) {
          const status = daemon.node.status()
          process.stdout.write(
            `${JSON.stringify({ ready: true, peerId: status.peerId, api: daemon.api.url, listen: status.multiaddrs })}\n`,
          )
        } else {
          process.stdout.write(`${daemon.readyLine}\n`)
        }
        if (stopRequested) stopNow(daemon)
      } catch (err) {
        const explained = dataDir === undefined ? err : await explainDataDirInUse(err, dataDir)
        process.exitCode = reportError(explained, options.json === true)
        // A failed start leaves nothing to stop: let the process end.
        process.removeAllListeners('SIGINT')
        process.removeAllListeners('SIGTERM')
      }
    })
}
