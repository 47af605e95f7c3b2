import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { ERR } from '../../src/errors/codes.ts'
import { Bwnode } from '../../src/node/bwnode.ts'

let root: string
let taken: Server
let takenPort: number

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bwnode-start-'))
  taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  takenPort = (taken.address() as { port: number }).port
})

afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve))
  await rm(root, { recursive: true, force: true })
})

function config(dataDir: string, port: number) {
  return parseConfig({ dataDir, listen: [`/ip4/127.0.0.1/tcp/${port}`], bootstrap: [] }, 'node-start test')
}

describe('a node starts its parts in dependency order', () => {
  it('the stores open before the network and the chunk protocol is served after the ledger it charges', async () => {
    const node = await Bwnode.create(config(join(root, 'order'), 0))
    const order = node.startOrder
    const startsBefore = (a: string, b: string) =>
      expect(order.indexOf(a), `${a} before ${b}`).toBeLessThan(order.indexOf(b))
    startsBefore('ledger', 'libp2p')
    startsBefore('store', 'libp2p')
    startsBefore('dht-join', 'libp2p')
    startsBefore('libp2p', 'chunk-protocol')
    startsBefore('lending', 'chunk-protocol')
    startsBefore('chunk-protocol', 'datasets')
    startsBefore('chunk-sessions', 'datasets')
    await node.start()
    expect(node.queries.status().uptimeSeconds).toBeGreaterThanOrEqual(0)
    await node.stop()
  })

  it('a node that cannot listen says so and leaves its data dir free for the next start', async () => {
    const dataDir = join(root, 'busy-port')
    const first = await Bwnode.create(config(dataDir, takenPort))
    const error = await first.start().then(
      () => undefined,
      (err: unknown) => err as { code?: string; message?: string },
    )
    expect(error?.code).toBe(ERR.CONFIG)
    expect(error?.message).toMatch(/address already in use/)
    // the failed start closed the database (LevelDB's lock) and every store over it
    const second = await Bwnode.create(config(dataDir, 0))
    await second.start()
    expect(second.peerId.equals(first.peerId)).toBe(true)
    await second.stop()
  })
})
