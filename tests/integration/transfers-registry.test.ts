import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { MAX_FINISHED_TRANSFERS } from '../../src/node/datasets.ts'
import { tempDir } from '../helpers/daemon.ts'
import { randomDataset, settleTransfer, startNode, stopQuietly } from '../helpers/swarm.ts'

/** One real node; fetching a dataset it already holds finishes at once, so many transfers are cheap. */
describe('transfer registry', () => {
  let node: Bwnode
  let cid: string

  beforeAll(async () => {
    const work = await tempDir('bwnode-transfers-')
    node = await startNode(await tempDir('bwnode-transfers-node-'))
    cid = (await node.datasets.add(await randomDataset(work, 'local', 1, 4096), { name: 'local' })).cid
  })
  afterAll(async () => {
    if (node !== undefined) await stopQuietly(node)
  })

  it('keeps the newest finished transfers only, so a long-running node does not grow', async () => {
    const ids: string[] = []
    for (let i = 0; i < MAX_FINISHED_TRANSFERS + 20; i++) {
      const done = await settleTransfer(node, node.datasets.startFetch(cid, { seed: false }).id)
      expect(done.state).toBe('done')
      ids.push(done.id)
    }
    const listed = node.datasets.listTransfers()
    expect(listed).toHaveLength(MAX_FINISHED_TRANSFERS)
    // Newest first, and exactly the last MAX_FINISHED_TRANSFERS started.
    expect(listed.map((t) => t.id)).toEqual(ids.slice(-MAX_FINISHED_TRANSFERS).reverse())
    expect(() => node.datasets.transfer(ids[0]!)).toThrow(/no transfer/)
    expect(node.datasets.transfer(ids.at(-1)!).state).toBe('done')
  })
})
