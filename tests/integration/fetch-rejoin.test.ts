import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { randomDataset, readTree, type Swarm, settleTransfer, startSwarm } from '../helpers/swarm.ts'

const CHUNK = 64 * 1024

/**
 * Rescheduling after a loss, with real nodes over TCP: the only provider of a dataset drops its
 * connection to the fetcher mid-fetch (a home peer falling off the network). The fetch does not
 * fail: it redials the peer, carries on from the chunks it has, and reports the loss and how
 * long the provider took to serve again.
 */
describe('a fetch wins back a provider it lost', () => {
  let swarm: Swarm
  let work: string
  let provider: Bwnode
  let cid: string
  let source: string

  beforeAll(async () => {
    work = await tempDir('bwnode-rejoin-')
    // 16 Mbit/s lent: the 6 MiB fetch takes ~3 s, long enough to cut it in the middle
    swarm = await startSwarm(2, (i) => (i === 1 ? { offer: { uplinkMbps: 16 } } : {}))
    provider = swarm.nodes[1]!
    source = await randomDataset(work, 'data', 3, 2 * 1024 * 1024)
    cid = (await provider.datasets.add(source, { chunkSize: CHUNK })).cid
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('redials the lost provider, finishes the fetch and reports the loss', async () => {
    const consumer = swarm.nodes[0]!
    const transfer = consumer.datasets.startFetch(cid)
    // cut the connection from the provider's side once a part has arrived
    await waitFor(
      async () => {
        const info = consumer.datasets.transfer(transfer.id)
        return (info.progress?.doneBytes ?? 0) > 1024 * 1024 ? true : undefined
      },
      { what: 'the first MiB', timeoutMs: 30_000, intervalMs: 20 },
    )
    await provider.libp2p.hangUp(consumer.peerId)
    const done = await settleTransfer(consumer, transfer.id, 60_000)
    expect(done.error, JSON.stringify({ error: done.error, providers: done.result?.providers })).toBeNull()
    expect(done.state).toBe('done')
    const losses = done.result?.losses ?? []
    expect(losses.length).toBeGreaterThanOrEqual(1)
    expect(losses[0]?.peerId).toBe(provider.peerId.toString())
    expect(losses[0]?.rejoinedAfterMs).not.toBeNull()
    expect(losses[0]?.reason).toMatch(/./)
    // every byte verified and in place
    const out = `${await tempDir('bwnode-rejoin-out-')}/data`
    await consumer.store.exportDataset(cid, out)
    const [want, got] = await Promise.all([readTree(source), readTree(out)])
    expect(got).toEqual(want)
  }, 90_000)
})
