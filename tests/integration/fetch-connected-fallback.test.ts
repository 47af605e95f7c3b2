import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_DISCOVERY_TIMEOUT_MS } from '../../src/fetch/constants.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { tempDir } from '../helpers/daemon.ts'
import { randomDataset, readTree, settleTransfer, startNode, stopQuietly } from '../helpers/swarm.ts'

/**
 * A fetch whose DHT walk cannot finish: the fetching node's routing table is empty (its only
 * peer runs its DHT in client mode), so kad-dht waits for a first self-query until the discovery
 * timeout ends the walk. The peer it is connected to holds the dataset all along. Before the fix
 * the walk's timeout error skipped the connected peers and the fetch failed with
 * ERR_NO_PROVIDERS after the whole discovery timeout.
 */
describe('connected peers when the DHT walk does not finish', () => {
  let work: string
  let holder: Bwnode
  let fetcher: Bwnode

  beforeAll(async () => {
    work = await tempDir('bwnode-fallback-')
    holder = await startNode(join(work, 'holder'))
    await holder.libp2p.services.dht.setMode('client')
    fetcher = await startNode(join(work, 'fetcher'))
    await fetcher.libp2p.dial(holder.libp2p.getMultiaddrs()[0]!)
  })
  afterAll(async () => {
    await Promise.allSettled([stopQuietly(holder), stopQuietly(fetcher)])
    await rm(work, { recursive: true, force: true })
  })

  it('fetches from a connected peer with an empty routing table, before the discovery timeout', async () => {
    const source = await randomDataset(work, 'data', 3, 150 * 1024)
    const info = await holder.store.addPath(source, { chunkSize: 64 * 1024 })
    // Preconditions: connected, but nobody in the fetcher's routing table to walk from.
    expect(fetcher.libp2p.getPeers().map(String)).toContain(holder.peerId.toString())
    expect(fetcher.queries.status().dhtRoutingTableSize).toBe(0)

    const out = join(work, 'out')
    const started = performance.now()
    const transfer = fetcher.datasets.startFetch(info.cid, { out, seed: false })
    const done = await settleTransfer(fetcher, transfer.id, 3 * DEFAULT_DISCOVERY_TIMEOUT_MS)
    const ms = performance.now() - started
    console.log(`fetch via a connected peer with an empty routing table: ${ms.toFixed(0)} ms`)
    expect(done.error).toBeNull()
    expect(done.result!.providers.map((p) => p.peerId)).toEqual([holder.peerId.toString()])
    expect(await readTree(out)).toEqual(await readTree(source))
    // The connected peer is asked while the walk still waits, not after its timeout.
    expect(ms).toBeLessThan(DEFAULT_DISCOVERY_TIMEOUT_MS)
  }, 60_000)
})
