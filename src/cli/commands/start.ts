import type { Command } from 'commander'
import { isLoopbackHost } from '../../config/loopback.ts'
import type { RunningDaemon } from '../../daemon/daemon.ts'
import { explainDataDirInUse } from '../common.ts'
import { Log, type LogLevel, logLevelFrom, logLevelOption } from '../log.ts'
import { type NodeOptions, nodeConfig, nodeOptions } from '../node-options.ts'
import { reportError } from '../output.ts'

interface StartOptions extends NodeOptions {
  json?: boolean
  logLevel?: LogLevel
}

export function registerStart(program: Command): void {
  nodeOptions(
    program
      .command('start')
      .description('run a node: libp2p peer, private DHT, local HTTP API; prints one "bwnode ready" line'),
  )
    .addOption(logLevelOption())
    .option('--json', 'print the ready line and errors as JSON')
    .action(async (options: StartOptions) => {
      let log: Log
      try {
        log = new Log(logLevelFrom(options.logLevel, process.env))
      } catch (err) {
        process.exitCode = reportError(err, options.json === true)
        return
      }
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
        log.info(`${why}, shutting down`)
        if (daemon === undefined) stopRequested = true
        else stopNow(daemon)
      }
      process.on('SIGINT', () => shutdown('SIGINT'))
      process.on('SIGTERM', () => shutdown('SIGTERM'))
      let dataDir: string | undefined
      try {
        const config = await nodeConfig(options)
        await log.enableDebugLogs()
        const { startDaemon } = await import('../../daemon/daemon.ts')
        dataDir = config.dataDir
        daemon = await startDaemon(config, {
          notice: (message) => log.warn(message),
          onShutdownRequest: () => shutdown('shutdown asked over the API'),
        })
        // Last line of defence for "nothing a peer sends may crash the node": a rejection that
        // escaped every handler is logged, and the node keeps serving.
        process.on('unhandledRejection', (reason) => {
          const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)
          log.error(`unhandled rejection (node keeps running): ${text}`)
        })
        if (!isLoopbackHost(config.api.host)) {
          log.warn(
            `the HTTP API listens on ${daemon.api.url}, reachable from other machines; ` +
              'anyone who can reach it can read this node (changes still need the token)',
          )
        }
        if (options.json === true) {
          const status = daemon.node.queries.status()
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
