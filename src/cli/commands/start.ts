import type { Command } from 'commander'
import { loadConfig, overridesFromEnv } from '../../config/load.ts'
import { startDaemon } from '../../node/daemon.ts'
import { collect, parseInteger } from '../common.ts'
import { reportError } from '../output.ts'

interface StartOptions {
  config?: string
  data?: string
  listen?: string[]
  bootstrap?: string[]
  announce?: string[]
  apiPort?: number
}

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
      '--api-port <n>',
      'HTTP API port on 127.0.0.1 (0 = any free port)',
      parseInteger('--api-port', 0, 65535),
    )
    .action(async (options: StartOptions) => {
      try {
        const config = await loadConfig(options.config, {
          ...overridesFromEnv(process.env),
          ...(options.data === undefined ? {} : { dataDir: options.data }),
          ...(options.listen === undefined ? {} : { listen: options.listen }),
          ...(options.announce === undefined ? {} : { announce: options.announce }),
          ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
          ...(options.apiPort === undefined ? {} : { apiPort: options.apiPort }),
        })
        const daemon = await startDaemon(config)
        process.stdout.write(`${daemon.readyLine}\n`)
        let signals = 0
        const shutdown = (signal: string): void => {
          signals += 1
          if (signals > 1) process.exit(130)
          process.stderr.write(`bwnode: ${signal}, shutting down\n`)
          daemon.stop().then(
            () => process.exit(0),
            (err: unknown) => process.exit(reportError(err, false)),
          )
        }
        process.on('SIGINT', () => shutdown('SIGINT'))
        process.on('SIGTERM', () => shutdown('SIGTERM'))
      } catch (err) {
        process.exitCode = reportError(err, false)
      }
    })
}
