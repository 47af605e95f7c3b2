import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Command } from 'commander'
import { openDatabase } from '../../db/database.ts'
import { loadOrCreateIdentity } from '../../node/identity.ts'
import { DEFAULT_DATA_DIR } from '../api-client.ts'
import { run } from '../common.ts'

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
          const { privateKey, created } = await loadOrCreateIdentity(options.data)
          const db = await openDatabase(options.data)
          await db.close()
          return { peerId: peerIdFromPrivateKey(privateKey).toString(), dataDir: options.data, created }
        },
        (result) => result.peerId,
      )
    })
}
