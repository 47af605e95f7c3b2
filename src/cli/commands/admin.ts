import { join } from 'node:path'
import type { Command } from 'commander'
import { ApiClient, dataDirOf } from '../../client/api-client.ts'
import { API_FILE, API_TOKEN_FILE } from '../../contract/api.ts'
import { ERR } from '../../errors/codes.ts'
import { BwnodeError, errorCode } from '../../errors/index.ts'
import { exists } from '../../util/fs.ts'
import { readOrCreateToken, writeNewToken } from '../../util/secret-file.ts'
import { client, type DaemonOptions, daemonCommand, parseDecimal, run } from '../common.ts'

interface TokenOptions {
  data?: string
  rotate?: boolean
  timeout?: number
  json?: boolean
}

/** How long `shutdown` waits for the daemon to be gone when no --timeout is given, s. */
const SHUTDOWN_WAIT_S = 60

/** Rotates through a running daemon (it switches at once); undefined when none answers. */
async function rotateThroughDaemon(
  dataDir: string,
  timeoutMs: number | undefined,
): Promise<string | undefined> {
  if (!(await exists(join(dataDir, API_FILE)))) return undefined
  try {
    const api = await ApiClient.locate({ data: dataDir, ...(timeoutMs === undefined ? {} : { timeoutMs }) })
    return (await api.post<{ token: string }>('/api/token/rotate', {})).token
  } catch (err) {
    // A stale api.json (the daemon was killed): nobody to tell, the file alone changes.
    if (errorCode(err) === ERR.DAEMON_NOT_RUNNING) return undefined
    throw err
  }
}

export function registerAdmin(program: Command): void {
  program
    .command('token')
    .description(
      'print the API token of a data dir (made once, kept across restarts, in <data>/api-token); --rotate replaces it',
    )
    .option('--data <dir>', 'data dir (default: BWNODE_DATA, or .bwnode)')
    .option('--rotate', 'make a new token; a daemon running on the data dir switches to it at once')
    .option(
      '--timeout <seconds>',
      'give up on the daemon after this many seconds',
      parseDecimal('--timeout', 0.001, 86_400),
    )
    .option('--json', 'print JSON for programs')
    .action(async (options: TokenOptions) => {
      await run(
        options,
        async () => {
          const dataDir = dataDirOf(options.data)
          if (!(await exists(dataDir))) {
            throw new BwnodeError(
              ERR.NOT_FOUND,
              `no data dir ${dataDir} (bwnode init --data ${dataDir} makes one)`,
            )
          }
          const file = join(dataDir, API_TOKEN_FILE)
          if (options.rotate !== true) {
            const { token, created } = await readOrCreateToken(file)
            return { token, file, created, rotated: false, daemon: null }
          }
          const timeoutMs = options.timeout === undefined ? undefined : options.timeout * 1000
          const viaDaemon = await rotateThroughDaemon(dataDir, timeoutMs)
          const token = viaDaemon ?? (await writeNewToken(file))
          const daemon = viaDaemon === undefined ? 'not running' : 'running'
          if (options.json !== true) {
            process.stderr.write(
              viaDaemon === undefined
                ? `bwnode: new token in ${file}; the daemon uses it from its next start\n`
                : `bwnode: new token in ${file}; the running daemon uses it now (the old one is refused)\n`,
            )
          }
          return { token, file, created: false, rotated: true, daemon }
        },
        (result) => result.token,
      )
    })

  daemonCommand(
    program
      .command('shutdown')
      .description('ask the daemon to stop gracefully (POST /api/shutdown) and wait until it has stopped')
      .option('--no-wait', 'return once the daemon has been asked'),
  ).action(async (options: DaemonOptions & { wait: boolean }) => {
    await run(
      options,
      async () => {
        const api = await client(options)
        const { peerId } = await api.post<{ stopping: boolean; peerId: string }>('/api/shutdown', {})
        if (!options.wait) return { peerId, stopped: false }
        // With --data the daemon is gone when its api.json is (removed last, after the database
        // is closed); with --api, when its API no longer answers.
        const apiFile = options.api === undefined ? join(dataDirOf(options.data), API_FILE) : undefined
        const seconds = options.timeout ?? SHUTDOWN_WAIT_S
        const deadline = Date.now() + seconds * 1000
        while (Date.now() < deadline) {
          if (apiFile !== undefined) {
            if (!(await exists(apiFile))) return { peerId, stopped: true }
          } else {
            try {
              await api.get('/api/status')
            } catch (err) {
              if (errorCode(err) === ERR.DAEMON_NOT_RUNNING) return { peerId, stopped: true }
              throw err
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        throw new BwnodeError(
          ERR.TIMEOUT,
          `the daemon ${peerId} was asked to stop but has not within ${seconds} s`,
        )
      },
      (result) => (result.stopped ? `stopped ${result.peerId}` : `asked ${result.peerId} to stop`),
    )
  })
}
