import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DhtDiscovery, joinThrough } from '../../src/experiment/discovery.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'
import { addOnAll, randomDataset, type Swarm, startNode, startSwarm, stopQuietly } from '../helpers/swarm.ts'

/**
 * The scheduling cells' consumer: a fresh node joins through one bootstrap peer and finds the
 * providers of a dataset on the real DHT of a small swarm, and only the providers it was asked for.
 */
describe('a newcomer finds providers on the DHT', () => {
  let swarm: Swarm
  let root: string
  let cid: string
  const newcomers: Bwnode[] = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bwnode-discovery-'))
    swarm = await startSwarm(5)
    const path = await randomDataset(root, 'data', 4, 64 * 1024)
    // nodes 1-3 hold the dataset; 4 holds it too but is not one of the wanted providers
    cid = (await addOnAll(swarm.nodes.slice(1), path)).cid
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled(newcomers.map((n) => stopQuietly(n)))
    await swarm?.stop()
    await rm(root, { recursive: true, force: true })
  })

  it('joins through the bootstrap, then finds exactly the wanted providers and when', async () => {
    const newcomer = await startNode(join(root, 'newcomer'))
    newcomers.push(newcomer)
    const joinedMs = await joinThrough(newcomer, swarm.bootstrap)
    expect(joinedMs).toBeGreaterThan(0)
    expect(newcomer.queries.status().dhtRoutingTableSize).toBeGreaterThan(0)

    const wanted = new Set(swarm.nodes.slice(1, 4).map((n) => n.peerId.toString()))
    const walk = new DhtDiscovery(newcomer, parseDatasetCid(cid), swarm.nodes.slice(1, 4))
    expect(walk.times(1)).toBeUndefined()
    const found: string[] = []
    for await (const peer of walk.providers(AbortSignal.timeout(20_000))) found.push(peer.toString())
    expect(new Set(found)).toEqual(wanted)
    const times = walk.times(1)!
    expect(times.providersFound).toBe(3)
    expect(times.allProvidersMs).toBeGreaterThanOrEqual(times.firstProviderMs)
    // undilated times are the real ones divided by the factor
    expect(walk.times(4)!.firstProviderMs).toBeCloseTo(times.firstProviderMs / 4, 6)
  }, 60_000)

  it('a caller that stops reading ends the walk, and a provider nobody has is never found', async () => {
    const newcomer = await startNode(join(root, 'newcomer-2'))
    newcomers.push(newcomer)
    await joinThrough(newcomer, swarm.bootstrap)
    const first = new DhtDiscovery(newcomer, parseDatasetCid(cid), swarm.nodes.slice(1))
    for await (const _ of first.providers(AbortSignal.timeout(20_000))) break
    expect(first.times(1)!.providersFound).toBe(1)
    expect(first.times(1)!.allProvidersMs).toBeUndefined()

    // the bootstrap holds no copy: asked for it alone, the walk ends without a provider
    const none = new DhtDiscovery(newcomer, parseDatasetCid(cid), [swarm.bootstrap])
    const got: unknown[] = []
    for await (const peer of none.providers(AbortSignal.timeout(10_000))) got.push(peer)
    expect(got).toEqual([])
    expect(none.times(1)).toBeUndefined()
  }, 60_000)
})
