import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it, vi } from 'vitest'
import { relayedCode } from '../../src/errors/codes.ts'
import { BwnodeError } from '../../src/errors/index.ts'
import { LOCALITY_MAX_COST } from '../../src/fetch/constants.ts'
import { ProviderState } from '../../src/fetch/provider.ts'
import {
  boundedShares,
  MultiSourceScheduler,
  type SchedulerInit,
  type WantedChunk,
} from '../../src/fetch/scheduler.ts'
import type { ProviderSession } from '../../src/fetch/types.ts'

/**
 * The scheduler's decisions, with in-memory providers whose delay per request
 * is controlled. Real network behaviour is covered by the integration tests.
 */

async function makeChunks(
  count: number,
  size = 1000,
): Promise<{ wanted: WantedChunk[]; bytes: Map<string, Uint8Array> }> {
  const wanted: WantedChunk[] = []
  const bytes = new Map<string, Uint8Array>()
  for (let i = 0; i < count; i++) {
    const data = new Uint8Array(size).fill(i % 251)
    data[0] = i & 0xff
    data[1] = i >> 8
    const cid = CID.createV1(raw.code, await sha256.digest(data))
    wanted.push({ cid, key: cid.toString(), size })
    bytes.set(cid.toString(), data)
  }
  return { wanted, bytes }
}

interface FakeOptions {
  /** Each answer arrives this long after its request (with serviceMs: at the earliest; the round trip). */
  delayMs: number
  /**
   * A paced link: requests are served one after another, this long each, so answers queue
   * behind each other (absent: every request takes delayMs, however many are in flight).
   */
  serviceMs?: number
  /** With serviceMs: the first answer waits this much longer (a fresh stream's start-up). */
  startupMs?: number
  corruptEvery?: number
  failAfter?: number
}

function fakeSession(
  bytes: Map<string, Uint8Array>,
  options: FakeOptions,
): ProviderSession & { served: number } {
  let calls = 0
  let busyUntil = 0
  const session = {
    served: 0,
    async get(cid: CID, opts?: { signal?: AbortSignal }): Promise<Uint8Array> {
      calls++
      const n = calls
      let waitMs = options.delayMs
      if (options.serviceMs !== undefined) {
        const now = performance.now()
        if (n === 1) busyUntil = now + (options.startupMs ?? 0)
        busyUntil = Math.max(now + options.delayMs / 2, busyUntil) + options.serviceMs
        waitMs = busyUntil + options.delayMs / 2 - now
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, waitMs)
        opts?.signal?.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(opts.signal?.reason)
        })
      })
      if (options.failAfter !== undefined && n > options.failAfter)
        throw new BwnodeError(relayedCode('ERR_STREAM'), 'stream reset')
      if (options.corruptEvery !== undefined && n % options.corruptEvery === 0) {
        throw new BwnodeError('ERR_CHUNK_HASH_MISMATCH', 'bytes do not match the CID')
      }
      session.served++
      return bytes.get(cid.toString())!
    },
    async have() {
      return { bitfield: new Uint8Array(0), pricePerGiB: 1 }
    },
    async manifest(): Promise<Uint8Array> {
      throw new Error('unused')
    },
    close() {},
  }
  return session
}

async function peer(): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** A scheduler over `chunks` that nobody aborts. */
function schedulerFor(
  chunks: WantedChunk[],
  init: Omit<SchedulerInit, 'chunks' | 'signal'>,
): MultiSourceScheduler {
  return new MultiSourceScheduler({ chunks, signal: new AbortController().signal, ...init })
}

function all(count: number): Set<number> {
  return new Set(Array.from({ length: count }, (_, i) => i))
}

describe('MultiSourceScheduler', () => {
  it('delivers every chunk once, spreading work over providers', async () => {
    const { wanted, bytes } = await makeChunks(60)
    const delivered = new Map<string, number>()
    const scheduler = schedulerFor(wanted, {
      deliver: async (chunk, data) => {
        expect(data).toEqual(bytes.get(chunk.key))
        delivered.set(chunk.key, (delivered.get(chunk.key) ?? 0) + 1)
      },
    })
    const a = fakeSession(bytes, { delayMs: 5 })
    const b = fakeSession(bytes, { delayMs: 5 })
    scheduler.addProvider(new ProviderState(await peer(), a, all(60), { rttMs: 5 }))
    scheduler.addProvider(new ProviderState(await peer(), b, all(60), { rttMs: 5 }))
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(delivered.size).toBe(60)
    expect([...delivered.values()].every((n) => n === 1)).toBe(true)
    expect(a.served).toBeGreaterThan(10)
    expect(b.served).toBeGreaterThan(10)
  })

  it('keeps requesting while stores lag, and finishes only when every chunk is stored', async () => {
    const { wanted, bytes } = await makeChunks(30)
    const waiting: Array<() => void> = []
    let stored = 0
    const scheduler = schedulerFor(wanted, {
      // A disk far slower than the link: each store waits until the test releases it.
      deliver: () =>
        new Promise<void>((resolve) => {
          waiting.push(() => {
            stored++
            resolve()
          })
        }),
    })
    const session = fakeSession(bytes, { delayMs: 1 })
    scheduler.addProvider(new ProviderState(await peer(), session, all(30), { rttMs: 1 }))
    scheduler.discoveryFinished()
    let finished = false
    const run = scheduler.run().then(() => {
      finished = true
    })
    // The provider's slots are freed at arrival, not at the store: every chunk is requested.
    await vi.waitFor(() => expect(session.served).toBe(30), { timeout: 5_000 })
    await new Promise((r) => setTimeout(r, 20))
    expect(finished).toBe(false)
    expect(scheduler.doneChunks).toBe(0)
    for (const release of waiting.splice(0)) release()
    await run
    expect(stored).toBe(30)
    expect(scheduler.doneChunks).toBe(30)
  })

  it('stops requesting while the store backlog is over its bound', async () => {
    const { wanted, bytes } = await makeChunks(30)
    const waiting: Array<() => void> = []
    const scheduler = schedulerFor(wanted, {
      deliver: () => new Promise<void>((resolve) => waiting.push(resolve)),
      // Room for five 1000-byte chunks waiting to be stored.
      maxStoreBacklogBytes: 5_000,
    })
    const session = fakeSession(bytes, { delayMs: 1 })
    scheduler.addProvider(new ProviderState(await peer(), session, all(30), { rttMs: 1 }))
    scheduler.discoveryFinished()
    const run = scheduler.run()
    await vi.waitFor(() => expect(waiting.length).toBeGreaterThanOrEqual(5), { timeout: 5_000 })
    await new Promise((r) => setTimeout(r, 50))
    // Requests already in flight when the bound was reached still land; none start after.
    const servedAtBound = session.served
    expect(servedAtBound).toBeLessThan(30)
    await new Promise((r) => setTimeout(r, 50))
    expect(session.served).toBe(servedAtBound)
    while (waiting.length > 0 || scheduler.doneChunks < 30) {
      for (const release of waiting.splice(0)) release()
      await new Promise((r) => setTimeout(r, 2))
    }
    await run
    expect(session.served).toBe(30)
  })

  it('gives most chunks to the provider that delivers sooner', async () => {
    const { wanted, bytes } = await makeChunks(80)
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
    })
    const near = fakeSession(bytes, { delayMs: 2 })
    const far = fakeSession(bytes, { delayMs: 60 })
    scheduler.addProvider(new ProviderState(await peer(), near, all(80), { rttMs: 2 }))
    scheduler.addProvider(new ProviderState(await peer(), far, all(80), { rttMs: 60 }))
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(near.served).toBeGreaterThan(far.served * 3)
  })

  it('drops a provider that sends corrupt chunks and refetches them elsewhere', async () => {
    const { wanted, bytes } = await makeChunks(40)
    const delivered = new Set<string>()
    const scheduler = schedulerFor(wanted, {
      deliver: async (chunk) => {
        delivered.add(chunk.key)
      },
    })
    const bad = new ProviderState(
      await peer(),
      fakeSession(bytes, { delayMs: 1, corruptEvery: 2 }),
      all(40),
      { rttMs: 1 },
    )
    const good = new ProviderState(await peer(), fakeSession(bytes, { delayMs: 3 }), all(40), { rttMs: 3 })
    scheduler.addProvider(bad)
    scheduler.addProvider(good)
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(delivered.size).toBe(40)
    expect(bad.dropped).toMatch(/corrupt/)
    expect(good.dropped).toBeNull()
  })

  it('finishes from the others when a provider dies mid-fetch', async () => {
    const { wanted, bytes } = await makeChunks(50)
    const delivered = new Set<string>()
    const scheduler = schedulerFor(wanted, {
      deliver: async (chunk) => {
        delivered.add(chunk.key)
      },
    })
    const dying = new ProviderState(await peer(), fakeSession(bytes, { delayMs: 2, failAfter: 5 }), all(50), {
      rttMs: 2,
    })
    const steady = new ProviderState(await peer(), fakeSession(bytes, { delayMs: 4 }), all(50), { rttMs: 4 })
    scheduler.addProvider(dying)
    scheduler.addProvider(steady)
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(delivered.size).toBe(50)
    expect(dying.dropped).toMatch(/failed/)
  })

  it('fails with ERR_NO_PROVIDERS when nobody has a chunk', async () => {
    const { wanted, bytes } = await makeChunks(10)
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
    })
    scheduler.addProvider(
      new ProviderState(await peer(), fakeSession(bytes, { delayMs: 1 }), new Set([0, 1, 2]), {}),
    )
    scheduler.discoveryFinished()
    await expect(scheduler.run()).rejects.toMatchObject({ code: 'ERR_NO_PROVIDERS' })
  })

  it('stops with the caller’s reason when aborted', async () => {
    const { wanted, bytes } = await makeChunks(30)
    const controller = new AbortController()
    const scheduler = new MultiSourceScheduler({
      chunks: wanted,
      signal: controller.signal,
      deliver: async () => {},
    })
    scheduler.addProvider(new ProviderState(await peer(), fakeSession(bytes, { delayMs: 50 }), all(30), {}))
    setTimeout(() => controller.abort(new BwnodeError('ERR_ABORTED', 'user cancelled')), 20)
    await expect(scheduler.run()).rejects.toThrow(/user cancelled/)
  })

  it('sizes the window from rate x RTT (Little’s law)', async () => {
    const { wanted, bytes } = await makeChunks(200, 1000)
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
    })
    // 1000-byte chunks every ~1 ms per slot with a 40 ms RTT hint: one slot gives ~25 chunks/s; the
    // window must grow well past its initial 4 to cover the RTT.
    const provider = new ProviderState(await peer(), fakeSession(bytes, { delayMs: 40 }), all(200), {
      rttMs: 40,
    })
    scheduler.addProvider(provider)
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(provider.window).toBeGreaterThan(8)
  })

  describe('locality bias', () => {
    async function nearAndFar(localityBias: number, nearHas = all(240), cpuSaturated = false) {
      const { wanted, bytes } = await makeChunks(240)
      const scheduler = schedulerFor(wanted, {
        deliver: async () => {},
        localityBias,
        cpu: { saturated: () => cpuSaturated },
      })
      // Equal pace (one chunk per 4 ms each); the far one's round trip is twice the near one's.
      // Both windows (8) cover their round trips, so at bias 0 both are kept busy.
      const near = fakeSession(bytes, { delayMs: 10, serviceMs: 4 })
      const far = fakeSession(bytes, { delayMs: 20, serviceMs: 4 })
      const nearState = new ProviderState(await peer(), near, nearHas, { rttMs: 10, rttSource: 'measured' })
      const farState = new ProviderState(await peer(), far, all(240), { rttMs: 20, rttSource: 'measured' })
      scheduler.addProvider(nearState)
      scheduler.addProvider(farState)
      scheduler.discoveryFinished()
      await scheduler.run()
      return { near: near.served, far: far.served, shares: scheduler.localityShares(), nearState, farState }
    }

    it('keeps most bytes on the nearer of two equal providers, and splits evenly at bias 0', async () => {
      // Premium 1 + (20 - 10) / 10 = 2 for the far one: its share is 1 / (1 + 2) of the bytes.
      const biased = await nearAndFar(1)
      expect(biased.near + biased.far).toBe(240)
      expect(biased.near / 240).toBeGreaterThan(0.58)
      expect(biased.near / 240).toBeLessThan(0.8)
      expect(biased.shares.get(biased.farState)?.premium).toBeCloseTo(2, 5)
      expect(biased.shares.get(biased.nearState)?.premium).toBe(1)

      const fastest = await nearAndFar(0)
      expect(fastest.near / 240).toBeGreaterThan(0.4)
      expect(fastest.near / 240).toBeLessThan(0.6)
    })

    it('suspends the bias while this node is CPU-bound (its pings measure its own queue then)', async () => {
      const saturated = await nearAndFar(1, all(240), true)
      expect(saturated.near / 240).toBeGreaterThan(0.4)
      expect(saturated.near / 240).toBeLessThan(0.6)
    })

    it('never holds a far provider back from chunks the near one lacks', async () => {
      const evens = new Set(Array.from({ length: 120 }, (_, i) => i * 2))
      const partial = await nearAndFar(4, evens)
      expect(partial.near + partial.far).toBe(240)
      // Every odd chunk had to come from the far one, whatever its share.
      expect(partial.far).toBeGreaterThanOrEqual(120)
    })
  })

  describe('a fast far source beside slow near ones (an origin and home peers)', () => {
    /**
     * Origin: a chunk per 4 ms behind a 40 ms round trip (250/s); each of 32 peers: a chunk per
     * 160 ms behind 20 ms (200/s together). Slow enough that timer jitter on a busy machine is
     * small beside a chunk time. One peer chunk takes longer than the origin's whole
     * queue, as a 1 MiB chunk from a 25 Mbit/s uplink does beside a 1 Gbit/s origin.
     */
    async function fetchFrom(withOrigin: boolean, peers: number, localityBias?: number) {
      const count = 600
      const { wanted, bytes } = await makeChunks(count)
      const scheduler = schedulerFor(wanted, {
        deliver: async () => {},
        cpu: { saturated: () => false },
        ...(localityBias === undefined ? {} : { localityBias }),
      })
      const served: Array<{ served: number }> = []
      if (withOrigin) {
        const origin = fakeSession(bytes, { delayMs: 40, serviceMs: 4 })
        served.push(origin)
        scheduler.addProvider(
          new ProviderState(await peer(), origin, all(count), {
            rttMs: 40,
            rttSource: 'measured',
            offeredBytesPerSec: 250_000,
          }),
        )
      }
      for (let i = 0; i < peers; i++) {
        const home = fakeSession(bytes, { delayMs: 20, serviceMs: 160 })
        served.push(home)
        scheduler.addProvider(
          new ProviderState(await peer(), home, all(count), {
            rttMs: 20,
            rttSource: 'measured',
            offeredBytesPerSec: 6_250,
          }),
        )
      }
      scheduler.discoveryFinished()
      const started = performance.now()
      await scheduler.run()
      return { ms: performance.now() - started, served: served.map((s) => s.served) }
    }

    for (const localityBias of [0, 1]) {
      it(`gives the peers their share and finishes sooner than the origin alone (bias ${localityBias})`, async () => {
        // Two rounds each, in turn (alone, both, both, alone), and the faster of each: these fakes
        // run on real timers, and a busy machine only ever makes a run slower (a neighbouring
        // test file once made the 33-source run 4% slower than the origin's alone).
        const alone = [await fetchFrom(true, 0, localityBias)]
        const both = [await fetchFrom(true, 32, localityBias), await fetchFrom(true, 32, localityBias)]
        alone.push(await fetchFrom(true, 0, localityBias))
        for (const run of both) {
          const peersServed = run.served.slice(1).reduce((sum, n) => sum + n, 0)
          // the peers' capacity share is 400 / 900 chunks/s; locality may raise it (one peer chunk
          // outlasting the origin's queue once kept them at 0-5%)
          expect(peersServed / 600).toBeGreaterThan(0.25)
        }
        const fastest = (runs: Array<{ ms: number }>) => Math.min(...runs.map((r) => r.ms))
        expect(fastest(both)).toBeLessThan(fastest(alone))
      })
    }
  })
})

describe('providers that join one after another', () => {
  /** 64 chunks from 16 providers, each a chunk per 40 ms (a paced uplink) behind a 10 ms round trip. */
  async function staged(announce: boolean) {
    const count = 64
    const { wanted, bytes } = await makeChunks(count)
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
      cpu: { saturated: () => false },
    })
    const sessions = Array.from({ length: 16 }, () => fakeSession(bytes, { delayMs: 10, serviceMs: 40 }))
    if (announce) for (let i = 0; i < sessions.length; i++) scheduler.joining()
    const run = scheduler.run()
    // HAVE replies arrive a millisecond apart, within a round trip of each other as replies to
    // requests sent at the same moment do
    for (const session of sessions) {
      scheduler.addProvider(
        new ProviderState(await peer(), session, all(count), {
          rttMs: 10,
          rttSource: 'measured',
          offeredBytesPerSec: 25_000,
        }),
      )
      if (announce) scheduler.joined()
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    scheduler.discoveryFinished()
    const started = performance.now()
    await run
    return { ms: performance.now() - started, served: sessions.map((s) => s.served) }
  }

  it('waits for the others still joining before it hands out chunks, and fetches nothing twice', async () => {
    const even = await staged(true)
    // 4 chunks each is even; the first to answer must not take its whole window of 8
    expect(Math.max(...even.served)).toBeLessThanOrEqual(6)
    expect(Math.min(...even.served)).toBeGreaterThanOrEqual(2)
    expect(even.served.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(64 + 2)
  })

  it('moves requests queued deep at one provider to one that joined late (unannounced)', async () => {
    const late = await staged(false)
    // the first eight fill their windows (8 x 8 = every chunk); the later ones take over the
    // tails of those queues instead of sitting idle
    expect(late.served.slice(8).reduce((a, b) => a + b, 0)).toBeGreaterThan(8)
    expect(late.served.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(64 + 4)
  })
})

describe('boundedShares', () => {
  it('leaves a bias that costs less than its bound alone (two equal providers: 2/3 near)', () => {
    const shares = boundedShares([1, 1], [1, 1 / 2])
    expect(shares[0]).toBeCloseTo(2 / 3, 9)
    expect(shares[1]).toBeCloseTo(1 / 3, 9)
  })

  it('caps the near providers when the far one is the fast one (origin 125, 16 peers of 3 MB/s)', () => {
    const capacities = [125, ...Array<number>(16).fill(3)]
    // the origin pays premium 2.4, the peers none
    const shares = boundedShares(
      capacities,
      capacities.map((c, i) => (i === 0 ? c / 2.4 : c)),
    )
    const total = capacities.reduce((a, b) => a + b, 0)
    const slowdown = 1 + LOCALITY_MAX_COST * (total / 125 - 1)
    const peers = shares.slice(1).reduce((a, b) => a + b, 0)
    expect(peers).toBeCloseTo((slowdown * 48) / total, 9)
    // finish time relative to the ideal split, and to the origin alone
    const time = Math.max(...shares.map((s, i) => (s * total) / capacities[i]!))
    expect(time).toBeCloseTo(slowdown, 9)
    expect(time / (total / 125)).toBeLessThan(1)
  })

  it('always sums to 1 and never lets a fetch be slower than its fastest provider alone', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: 0.01, max: 1000, noNaN: true }),
            fc.double({ min: 1, max: 50, noNaN: true }),
          ),
          {
            minLength: 1,
            maxLength: 20,
          },
        ),
        (providers) => {
          const capacities = providers.map(([c]) => c)
          const shares = boundedShares(
            capacities,
            providers.map(([c, premium]) => c / premium),
          )
          expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6)
          const total = capacities.reduce((a, b) => a + b, 0)
          const time = Math.max(...shares.map((s, i) => (s * total) / capacities[i]!))
          // in units of the ideal time; the fastest alone takes total / max
          expect(time).toBeLessThanOrEqual(total / Math.max(...capacities) + 1e-6)
        },
      ),
    )
  })
})

describe('a provider lost mid-fetch', () => {
  /** A session whose stream dies after `dieAfter` answers: it fails every request and says it is closed. */
  function lossSession(bytes: Map<string, Uint8Array>, dieAfter: number) {
    const inner = fakeSession(bytes, { delayMs: 2, failAfter: dieAfter })
    let dead = false
    const get = inner.get
    return Object.defineProperties(inner, {
      closed: { get: () => dead },
      get: {
        value: async (cid: CID, opts?: { signal?: AbortSignal }) => {
          try {
            return await get(cid, opts)
          } catch (err) {
            dead = true
            throw err
          }
        },
      },
    })
  }

  it('drops it at once as lost (not after its failures add up) and says so', async () => {
    const { wanted, bytes } = await makeChunks(40)
    const events: string[] = []
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
      maxFailures: 100,
      onEvent: (e) => {
        if (e.type === 'lost' || e.type === 'drop') events.push(e.type)
      },
    })
    const dying = new ProviderState(await peer(), lossSession(bytes, 5), all(40), { rttMs: 2 })
    const steady = fakeSession(bytes, { delayMs: 4 })
    scheduler.addProvider(dying)
    scheduler.addProvider(new ProviderState(await peer(), steady, all(40), { rttMs: 4 }))
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(dying.dropped).toMatch(/^lost: stream reset/)
    expect(events).toEqual(['lost'])
    expect(dying.chunks + steady.served).toBe(40)
  })

  it('waits for a lost provider being won back when nobody else holds its chunks, then finishes', async () => {
    const { wanted, bytes } = await makeChunks(30)
    const delivered = new Set<string>()
    let lost = 0
    const scheduler = schedulerFor(wanted, {
      deliver: async (chunk) => {
        delivered.add(chunk.key)
      },
      onEvent: (e) => {
        if (e.type === 'lost') {
          lost++
          // the fetcher's part: redial, and the same peer joins again with a fresh session
          scheduler.rejoining()
          setTimeout(() => {
            scheduler.addProvider(
              new ProviderState(only.peer, fakeSession(bytes, { delayMs: 2 }), all(30), { rttMs: 2 }),
            )
            scheduler.rejoinEnded()
          }, 50)
        }
      },
    })
    const only = new ProviderState(await peer(), lossSession(bytes, 10), all(30), { rttMs: 2 })
    scheduler.addProvider(only)
    scheduler.discoveryFinished()
    await scheduler.run()
    expect(lost).toBe(1)
    expect(delivered.size).toBe(30)
  })

  it('fails once no rejoin is pending and nobody holds the rest', async () => {
    const { wanted, bytes } = await makeChunks(30)
    const scheduler = schedulerFor(wanted, {
      deliver: async () => {},
      onEvent: (e) => {
        if (e.type === 'lost') {
          scheduler.rejoining()
          setTimeout(() => scheduler.rejoinEnded(), 30)
        }
      },
    })
    scheduler.addProvider(new ProviderState(await peer(), lossSession(bytes, 10), all(30), { rttMs: 2 }))
    scheduler.discoveryFinished()
    await expect(scheduler.run()).rejects.toThrow(/no reachable provider/)
  })
})

describe('the endgame between busy providers', () => {
  it('does not move requests between two equal providers whose queues end together', async () => {
    const { wanted, bytes } = await makeChunks(8)
    const moves: string[] = []
    const scheduler = schedulerFor(wanted, { deliver: async () => {} })
    const sessions = [0, 1].map(() => {
      const s = fakeSession(bytes, { delayMs: 4, serviceMs: 60 })
      const get = s.get
      s.get = async (cid, opts) =>
        get(cid, opts).catch((err) => {
          if ((opts?.signal?.reason as { code?: string } | undefined)?.code === 'ERR_REASSIGNED')
            moves.push(cid.toString())
          throw err
        })
      return s
    })
    // both announced before either joins, as the fetcher does: the first does not take everything
    const peers = [await peer(), await peer()]
    scheduler.joining()
    scheduler.joining()
    for (const [i, s] of sessions.entries()) {
      scheduler.addProvider(new ProviderState(peers[i]!, s, all(8), { rttMs: 4 }))
      scheduler.joined()
    }
    scheduler.discoveryFinished()
    await scheduler.run()
    // each queue of four ends at the same time: a move only adds a chunk time to both (the request
    // was already in the server's queue, which serves it anyway)
    expect(moves).toEqual([])
    expect(sessions.map((s) => s.served)).toEqual([4, 4])
  })
})

describe('a provider still starting up', () => {
  it('keeps its queue: the wait before its first chunk is paid once, not by every chunk behind it', async () => {
    // A: 750 ms of start-up, then a chunk per 30 ms, all 8 chunks queued there. B joins 360 ms in,
    // a chunk per 240 ms. Read per chunk, A's wait made its last request look far away and B took
    // 5 of the 8 (at a third of these times the fetch took 545 ms; 315 ms with A keeping its queue).
    // The times are long enough that a cold process's timer jitter does not decide the split; a
    // busy machine's late timers can still hand B one more, so the better of two runs is read
    // (load only ever delays a timer).
    const splits: Array<{ fast: number; slow: number }> = []
    for (let round = 0; round < 2 && !splits.some((s) => s.slow <= 2); round++)
      splits.push(await startupSplit())
    for (const split of splits) expect(split.fast + split.slow).toBe(8)
    expect(Math.min(...splits.map((s) => s.slow)), JSON.stringify(splits)).toBeLessThanOrEqual(2)
  })
})

/** One fetch of the start-up scenario above: how many chunks each provider served. */
async function startupSplit(): Promise<{ fast: number; slow: number }> {
  const { wanted, bytes } = await makeChunks(8)
  const scheduler = schedulerFor(wanted, { deliver: async () => {} })
  const fast = fakeSession(bytes, { delayMs: 30, serviceMs: 30, startupMs: 750 })
  const slow = fakeSession(bytes, { delayMs: 30, serviceMs: 240 })
  // both identities first: a key pair made on the clock would shift the timings under test
  const [fastPeer, slowPeer] = [await peer(), await peer()]
  const run = scheduler.run()
  scheduler.addProvider(
    new ProviderState(fastPeer, fast, all(8), {
      rttMs: 30,
      rttSource: 'measured',
      offeredBytesPerSec: 33_333,
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, 360))
  scheduler.addProvider(
    new ProviderState(slowPeer, slow, all(8), {
      rttMs: 30,
      rttSource: 'measured',
      offeredBytesPerSec: 4_167,
    }),
  )
  scheduler.discoveryFinished()
  await run
  return { fast: fast.served, slow: slow.served }
}

describe('a chunk moved to a provider that fails at once', () => {
  it('is requeued by whichever copy fails last, so the fetch does not end without it', async () => {
    const count = 6
    const { wanted, bytes } = await makeChunks(count)
    const delivered = new Set<string>()
    const scheduler = schedulerFor(wanted, {
      deliver: async (chunk) => {
        delivered.add(chunk.key)
      },
    })
    // A: a paced queue whose withdrawn requests take a while to report it (a real session waits
    // for its CANCEL to go out and the stream to close)
    const slow = fakeSession(bytes, { delayMs: 4, serviceMs: 30 })
    const slowGet = slow.get
    slow.get = async (cid, opts) =>
      slowGet(cid, opts).catch(async (err) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        throw err
      })
    // B: joins late, looks faster, and every request it takes fails at once
    const failing = fakeSession(bytes, { delayMs: 0, failAfter: 0 })
    scheduler.addProvider(new ProviderState(await peer(), slow, all(count), { rttMs: 4 }))
    const run = scheduler.run()
    await new Promise((resolve) => setTimeout(resolve, 5))
    scheduler.addProvider(new ProviderState(await peer(), failing, all(count), { rttMs: 1 }))
    scheduler.discoveryFinished()
    await run
    expect(delivered.size).toBe(count)
  })
})

describe('a slow provider that keeps delivering', () => {
  it('is not timed out for requests queued behind its own deliveries', async () => {
    // One provider with no rate known (no offer yet): each chunk takes 150 ms, served one after
    // another, and the scheduler queues several at once. A request's timer (here 400 ms) ran from
    // when it was sent, so the fourth in the queue (600 ms) timed out though the provider
    // delivered every 150 ms; four such failures dropped it and the fetch failed (ERR_NO_PROVIDERS).
    const { wanted, bytes } = await makeChunks(8)
    const scheduler = schedulerFor(wanted, { deliver: async () => {}, minChunkTimeoutMs: 400 })
    const slow = fakeSession(bytes, { delayMs: 10, serviceMs: 150 })
    const run = scheduler.run()
    scheduler.addProvider(new ProviderState(await peer(), slow, all(8), { rttSource: 'unknown' }))
    scheduler.discoveryFinished()
    await run
    expect(slow.served).toBe(8)
  })

  it('a provider that stops delivering is still timed out', async () => {
    const { wanted, bytes } = await makeChunks(4)
    const scheduler = schedulerFor(wanted, { deliver: async () => {}, minChunkTimeoutMs: 200 })
    const stalled = fakeSession(bytes, { delayMs: 60_000 })
    const run = scheduler.run()
    scheduler.addProvider(new ProviderState(await peer(), stalled, all(4), { rttSource: 'unknown' }))
    scheduler.discoveryFinished()
    await expect(run).rejects.toThrow()
  })
})

describe('a fetch cancelled before its scheduler started', () => {
  it('ends with the cancel, not with "no providers"', async () => {
    // A user's cancel that lands between the manifest and the first chunk request: the signal
    // is already aborted when the scheduler is made, so its abort listener never fires.
    const { wanted, bytes } = await makeChunks(4)
    const controller = new AbortController()
    controller.abort(new BwnodeError('ERR_CANCELLED', 'fetch cancelled'))
    const scheduler = new MultiSourceScheduler({
      chunks: wanted,
      signal: controller.signal,
      deliver: async () => {},
    })
    const run = scheduler.run()
    scheduler.addProvider(
      new ProviderState(await peer(), fakeSession(bytes, { delayMs: 5 }), all(4), { rttSource: 'unknown' }),
    )
    scheduler.discoveryFinished()
    await expect(run).rejects.toMatchObject({ code: 'ERR_CANCELLED' })
  })
})
