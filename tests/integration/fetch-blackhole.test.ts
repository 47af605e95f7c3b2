import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { CHUNK_PROTOCOL, DEFAULT_RESPONSE_TIMEOUT_MS, MessageType } from '../../src/protocols/chunk/index.ts'
import { readVarint } from '../../src/protocols/chunk/varint.ts'
import { tempDir } from '../helpers/daemon.ts'
import { randomDataset, readTree, type Swarm, settleTransfer, startSwarm } from '../helpers/swarm.ts'

const CHUNK = 64 * 1024

/**
 * A fetch whose first provider records point at black holes: peers that accept the chunk
 * protocol and never answer. The real holder is a connected peer whose record is not out, so it
 * is asked only after every DHT provider (the worst case, and deterministic). Before manifest
 * hedging each silent record cost a whole response timeout (30 s).
 *
 * The bound is half of one response timeout: a fetch that waited out even one silent provider
 * cannot meet it however fast the machine, and a hedged fetch meets it with room on a slow one.
 */
const BOUND_MS = DEFAULT_RESPONSE_TIMEOUT_MS / 2

/** Request types each black hole has read, in order (parsed from the frames it swallowed). */
type Seen = number[]

/** Replaces a node's chunk handler by one that reads every request and never answers. */
async function makeBlackHole(node: Bwnode): Promise<Seen> {
  const seen: Seen = []
  await node.libp2p.unhandle(CHUNK_PROTOCOL)
  await node.libp2p.handle(CHUNK_PROTOCOL, (stream: Stream) => {
    let buffered = new Uint8Array(0)
    stream.addEventListener('message', (event) => {
      const data = event.data instanceof Uint8Array ? event.data : event.data.subarray()
      const joined = new Uint8Array(buffered.length + data.length)
      joined.set(buffered)
      joined.set(data, buffered.length)
      let offset = 0
      while (true) {
        const length = readVarint(joined, offset)
        if (length === undefined || joined.length < offset + length.size + length.value) break
        seen.push(joined[offset + length.size] as number)
        offset += length.size + length.value
      }
      buffered = joined.slice(offset)
    })
  })
  return seen
}

describe('fetch with black-hole provider records', () => {
  let swarm: Swarm
  let work: string
  let holder: Bwnode
  let fetcher: Bwnode
  let holes: Bwnode[]
  const seen = new Map<Bwnode, Seen>()

  beforeAll(async () => {
    work = await tempDir('bwnode-blackhole-')
    // 0 bootstrap, 1 the real holder, 2-4 black holes, 5 the fetcher.
    swarm = await startSwarm(6)
    holder = swarm.nodes[1]!
    holes = [swarm.nodes[2]!, swarm.nodes[3]!, swarm.nodes[4]!]
    fetcher = swarm.nodes[5]!
    for (const hole of holes) seen.set(hole, await makeBlackHole(hole))
    await fetcher.libp2p.dial(holder.libp2p.getMultiaddrs()[0]!)
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  /** The holder stores a dataset without announcing it; `announcing` provide records for it. */
  async function dataset(name: string, announcing: Bwnode[]): Promise<string> {
    const source = await randomDataset(work, name, 2, 200 * 1024)
    const info = await holder.store.addPath(source, { chunkSize: CHUNK })
    const cid = CID.parse(info.cid)
    await Promise.all(announcing.map((node) => node.libp2p.contentRouting.provide(cid)))
    // Precondition: the fetcher's own DHT walk finds every one of them.
    const found = new Set<string>()
    for await (const p of fetcher.libp2p.contentRouting.findProviders(cid, {
      signal: AbortSignal.timeout(10_000),
    })) {
      found.add(p.id.toString())
    }
    for (const node of announcing) expect(found).toContain(node.peerId.toString())
    return info.cid
  }

  async function timedFetch(cid: string, name: string) {
    const out = join(work, `${name}-out`)
    const started = performance.now()
    const transfer = fetcher.datasets.startFetch(cid, { out, seed: false })
    const done = await settleTransfer(fetcher, transfer.id, 5 * DEFAULT_RESPONSE_TIMEOUT_MS)
    const ms = performance.now() - started
    expect(done.error).toBeNull()
    expect(await readTree(out)).toEqual(await readTree(join(work, name)))
    return { ms, done }
  }

  const manifestsAsked = (node: Bwnode): number =>
    (seen.get(node) ?? []).filter((type) => type === MessageType.MANIFEST).length

  it('one silent provider record does not hold the fetch for a response timeout', async () => {
    const cid = await dataset('one-hole', [holes[0]!])
    const before = manifestsAsked(holes[0]!)
    const { ms, done } = await timedFetch(cid, 'one-hole')
    console.log(`fetch with 1 black-hole provider: ${ms.toFixed(0)} ms`)
    // The black hole was asked for the manifest (first, since the holder comes after the DHT).
    expect(manifestsAsked(holes[0]!)).toBe(before + 1)
    expect(done.result!.providers.map((p) => p.peerId)).toEqual([holder.peerId.toString()])
    expect(ms).toBeLessThan(BOUND_MS)
  }, 120_000)

  it('three silent provider records do not either', async () => {
    const cid = await dataset('three-holes', holes)
    // The first fetch may also have asked the other black holes (connected peers) and marked
    // them failed, so this fetch would ask the holder first; forget that, to see three fresh ones.
    for (const hole of holes) fetcher.datasets.providerFailures.succeeded(hole.peerId)
    const before = holes.map(manifestsAsked)
    const { ms } = await timedFetch(cid, 'three-holes')
    console.log(`fetch with 3 black-hole providers: ${ms.toFixed(0)} ms`)
    // Each was asked at most once; how many were found before the holder depends on the walk.
    const asked = holes.map((hole, i) => manifestsAsked(hole) - before[i]!)
    for (const n of asked) expect(n).toBeLessThanOrEqual(1)
    expect(asked.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(1)
    console.log(`black holes asked for the manifest: ${asked.reduce((a, b) => a + b)} of 3`)
    expect(ms).toBeLessThan(BOUND_MS)
  }, 300_000)

  it('providers that failed before are asked after the others', async () => {
    // Every black hole has failed this node by now; the holder announces too this time.
    const cid = await dataset('ranked', [...holes, holder])
    const failures = fetcher.datasets.providerFailures
    // The ones asked before (and not answering while the holder did) are remembered.
    const failed = holes.filter((hole) => failures.score(hole.peerId) > 0)
    expect(failed.length).toBeGreaterThanOrEqual(1)
    expect(failures.score(holder.peerId)).toBe(0)
    const before = failed.map(manifestsAsked)
    const { ms } = await timedFetch(cid, 'ranked')
    console.log(`fetch with ${failed.length} known-bad and 1 good provider record: ${ms.toFixed(0)} ms`)
    // The holder was asked first and answered within the hedge delay: no known-bad one was asked.
    expect(failed.map(manifestsAsked)).toEqual(before)
    expect(ms).toBeLessThan(BOUND_MS)
  }, 120_000)
})
