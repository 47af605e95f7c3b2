import { join } from 'node:path'
import type { Command } from 'commander'
import { DEFAULT_DATA_DIR } from '../../client/api-client.ts'
import { API_TOKEN_FILE } from '../../contract/api.ts'
import { readOrCreateToken } from '../../util/secret-file.ts'
import { explainDataDirInUse, run } from '../common.ts'

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the node identity and database in a data dir, print the peer id')
    .option('--data <dir>', 'data dir', process.env.BWNODE_DATA ?? DEFAULT_DATA_DIR)
    .option('--json', 'print JSON for programs')
    .action(async (options: { data: string; json?: boolean }) => {
      await run(
        options,
        async () => {
          const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
          const { openDatabase } = await import('../../db/database.ts')
          const { loadOrCreateIdentity } = await import('../../node/identity.ts')
          const { privateKey, created } = await loadOrCreateIdentity(options.data)
          const db = await openDatabase(options.data).catch(async (err: unknown) => {
            throw await explainDataDirInUse(err, options.data)
          })
          await db.close()
          // The API token, made once here or at the first start, kept across restarts.
          await readOrCreateToken(join(options.data, API_TOKEN_FILE))
          return { peerId: peerIdFromPrivateKey(privateKey).toString(), dataDir: options.data, created }
        },
        (result) => {
          // stdout stays the peer id alone (scripts read it); the note that nothing changed goes to stderr
          if (!result.created) {
            process.stderr.write(`${options.data} was already initialised; its identity is kept\n`)
          }
          return result.peerId
        },
      )
    })
}
