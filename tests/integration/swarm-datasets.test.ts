import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { manifestCid } from '../../src/store/cid.ts'
import { generateSeed } from '../../src/store/seed.ts'
import { tempDir } from '../helpers/daemon.ts'
import {
  addOnAll,
  exists,
  randomDataset,
  readTree,
  type Swarm,
  settleTransfer,
  startSwarm,
} from '../helpers/swarm.ts'

const CHUNK = 64 * 1024
/** Providers lend 8 Mbit/s (1 MB/s) each, so a few MiB take long enough to interrupt. */
const PROVIDER_UPLINK_MBPS = 8

/**
 * Six real nodes in this process over TCP on 127.0.0.1, one private DHT:
 * node 0 is the bootstrap, nodes 1-3 are rate-capped providers, node 4
 * fetches, node 5 is a provider that turns malicious.
 */
describe('datasets across an in-process swarm', () => {
  let swarm: Swarm
  let work: string
  let providers: Bwnode[]
  let fetcher: Bwnode

  beforeAll(async () => {
    work = await tempDir('bwnode-swarm-data-')
    swarm = await startSwarm(6, (i) =>
      (i >= 1 && i <= 3) || i === 5 ? { offer: { uplinkMbps: PROVIDER_UPLINK_MBPS } } : {},
    )
    providers = [swarm.nodes[1]!, swarm.nodes[2]!, swarm.nodes[3]!]
    fetcher = swarm.nodes[4]!
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('fetches a dataset held by three nodes from more than one of them, byte-identical', async () => {
    const source = await randomDataset(work, 'multi', 4, 512 * 1024 + 17)
    const info = await addOnAll(providers, source, { chunkSize: CHUNK })
    const out = join(work, 'multi-out')

    const transfer = fetcher.datasets.startFetch(info.cid, { out })
    const done = await settleTransfer(fetcher, transfer.id)
    expect(done.error).toBeNull()
    expect(done.state).toBe('done')
    const result = done.result!
    expect(result.bytes).toBe(info.bytes)
    expect(result.fetchedBytes).toBe(info.bytes)
    expect(result.resumedChunks).toBe(0)

    // Healthy providers stay in: losing an endgame race is not a failure.
    for (const p of result.providers) expect(p.dropped).toBeNull()
    const served = result.providers.filter((p) => p.bytes > 0)
    expect(served.length).toBeGreaterThan(1)
    const providerIds = new Set(providers.map((p) => p.peerId.toString()))
    for (const p of served) expect(providerIds.has(p.peerId)).toBe(true)
    expect(served.reduce((sum, p) => sum + p.bytes, 0)).toBe(info.bytes)
    expect(await readTree(out)).toEqual(await readTree(source))
  })

  it('completes with correct bytes when one provider corrupts chunks, and drops that provider', async () => {
    // ~1.5 s from the two honest providers: long enough that the liar, however late the DHT
    // walk finds it, is asked for more chunks than it may corrupt before it is dropped.
    const source = await randomDataset(work, 'tampered', 3, 1024 * 1024)
    const honest = [providers[0]!, providers[1]!]
    const liar = swarm.nodes[5]!
    const info = await addOnAll([...honest, liar], source, { chunkSize: CHUNK })
    const flipped = await corruptChunkFiles(liar)
    expect(flipped).toBe(info.chunks)

    const out = join(work, 'tampered-out')
    const done = await settleTransfer(fetcher, fetcher.datasets.startFetch(info.cid, { out }).id)
    expect(done.error).toBeNull()
    const result = done.result!
    const bad = result.providers.find((p) => p.peerId === liar.peerId.toString())
    expect(bad).toBeDefined()
    expect(bad!.badChunks).toBeGreaterThanOrEqual(1)
    const counted = (await fetcher.metrics.badChunks.get()).values[0]?.value ?? 0
    expect(counted).toBeGreaterThanOrEqual(bad!.badChunks)
    expect(bad!.dropped).toMatch(/corrupt/)
    expect(bad!.bytes).toBe(0)
    for (const p of result.providers.filter((p) => p.peerId !== liar.peerId.toString())) {
      expect(p.dropped).toBeNull()
    }
    expect(await readTree(out)).toEqual(await readTree(source))
  })

  it('finishes from the others when a provider stops mid-fetch', async () => {
    // 4 MiB from three 1 MB/s providers: about 1.4 s, stopped a third of the way in.
    const source = await randomDataset(work, 'stopped', 4, 1024 * 1024)
    const info = await addOnAll(providers, source, { chunkSize: CHUNK })
    const out = join(work, 'stopped-out')
    const quitter = providers[2]!

    const transfer = fetcher.datasets.startFetch(info.cid, { out })
    await waitForProgress(fetcher, transfer.id, info.bytes / 3)
    const doneBeforeStop = fetcher.datasets.transfer(transfer.id).progress!.doneBytes
    expect(doneBeforeStop).toBeLessThan(info.bytes)
    await quitter.stop()

    const done = await settleTransfer(fetcher, transfer.id)
    expect(done.error).toBeNull()
    const result = done.result!
    expect(await readTree(out)).toEqual(await readTree(source))
    const byPeer = new Map(result.providers.map((p) => [p.peerId, p]))
    const stopped = byPeer.get(quitter.peerId.toString())
    // It served something before it went away, and the rest came from the two still running.
    expect(stopped?.bytes ?? 0).toBeLessThan(info.bytes)
    const fromOthers = result.providers
      .filter((p) => p.peerId !== quitter.peerId.toString())
      .reduce((sum, p) => sum + p.bytes, 0)
    expect(fromOthers + (stopped?.bytes ?? 0)).toBe(info.bytes)
    expect(fromOthers).toBeGreaterThan(info.bytes - doneBeforeStop - 1)
  })

  it('gives the same dataset CID for the same recipe in two separate data dirs', async () => {
    const [a, b] = [swarm.nodes[0]!, fetcher]
    expect(a.dataDir).not.toBe(b.dataDir)
    const seedA = await generateSeed('tiny', join(work, 'seed-a'))
    const seedB = await generateSeed('tiny', join(work, 'seed-b'))
    const infoA = await a.datasets.add(seedA, {})
    const infoB = await b.datasets.add(seedB, {})
    expect(infoA.cid).toBe(infoB.cid)
    expect(infoA.bytes).toBe(infoB.bytes)
    expect(infoA.bytes).toBeGreaterThan(0)
  })

  it('finds a connected peer that holds the dataset before its provider record is out', async () => {
    // Stored on node 1 without announcing it: no provider record exists on the DHT at all.
    const holder = providers[0]!
    const source = await randomDataset(work, 'unannounced', 2, 256 * 1024)
    const info = await holder.store.addPath(source, { chunkSize: CHUNK })
    expect(holder.datasets.providedCount).toBeLessThan((await holder.datasets.list()).length)
    await fetcher.libp2p.dial(holder.libp2p.getMultiaddrs()[0]!)
    const out = join(work, 'unannounced-out')
    const done = await settleTransfer(fetcher, fetcher.datasets.startFetch(info.cid, { out, seed: false }).id)
    expect(done.error).toBeNull()
    expect(done.result!.providers.map((p) => p.peerId)).toContain(holder.peerId.toString())
    expect(await readTree(out)).toEqual(await readTree(source))
  })

  it('reports a clear error for a CID nobody provides', async () => {
    const unknown = manifestCid(new TextEncoder().encode(`nobody has this ${Date.now()}`)).toString()
    const out = join(work, 'unknown-out')
    const done = await settleTransfer(fetcher, fetcher.datasets.startFetch(unknown, { out }).id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('ERR_NO_PROVIDERS')
    expect(await exists(out)).toBe(false)
    expect(await exists(`${out}.partial`)).toBe(false)
  })

  it('refuses an --out path that exists before fetching anything', async () => {
    const source = await randomDataset(work, 'exists', 1, 200 * 1024)
    const info = await addOnAll([providers[0]!], source, { chunkSize: CHUNK })
    const out = join(work, 'already-here')
    await writeFile(out, 'keep me')
    expect(() => fetcher.datasets.startFetch(info.cid, { out })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_EXISTS' }),
    )
    expect(await readFile(out, 'utf8')).toBe('keep me')
    expect(await exists(`${out}.partial`)).toBe(false)
    // Nothing was fetched: the dataset is not in the fetcher's store.
    expect((await fetcher.datasets.list()).some((d) => d.cid === info.cid)).toBe(false)
  })
})

/** Flips one byte in every chunk file of `node`; returns how many it changed. */
async function corruptChunkFiles(node: Bwnode): Promise<number> {
  const root = join(node.dataDir, 'chunks')
  let count = 0
  for (const shard of await readdir(root)) {
    if (shard === 'tmp') continue
    for (const name of await readdir(join(root, shard))) {
      const path = join(root, shard, name)
      const bytes = await readFile(path)
      const middle = bytes.length >> 1
      bytes[middle] = (bytes[middle] ?? 0) ^ 0xff
      await writeFile(path, bytes)
      count++
    }
  }
  return count
}

async function waitForProgress(node: Bwnode, id: string, bytes: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const info = node.datasets.transfer(id)
    if (info.state !== 'running') throw new Error(`transfer ended early: ${JSON.stringify(info.error)}`)
    if ((info.progress?.doneBytes ?? 0) >= bytes) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('no progress')
}
