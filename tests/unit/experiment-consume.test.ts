import { describe, expect, it } from 'vitest'
import { consume, type Lane, type ReadItem } from '../../src/experiment/workloads.ts'

/**
 * A lane that serves requests one after another at `bytesPerMs`, each after a round trip of
 * `rttMs`; with `rampItems`, its first items come at a quarter of that (a fresh stream's window
 * still growing); it offers `offeredBytesPerMs` (default: what it delivers).
 */
function pacedLane(
  label: string,
  kind: Lane['kind'],
  bytesPerMs: number,
  rttMs: number,
  concurrency: number,
  rampItems = 0,
  offeredBytesPerMs = bytesPerMs,
): Lane {
  let freeAt = 0
  let served = 0
  return {
    label,
    kind,
    concurrency,
    expectedBytesPerSec: offeredBytesPerMs * 1000,
    read: async () => {
      const now = performance.now()
      const start = Math.max(now + rttMs / 2, freeAt)
      freeAt = start + 100_000 / (served++ < rampItems ? bytesPerMs / 4 : bytesPerMs)
      await new Promise((resolve) => setTimeout(resolve, freeAt + rttMs / 2 - now))
      return new Uint8Array(100_000)
    },
  }
}

const items = (n: number): ReadItem[] =>
  Array.from({ length: n }, (_, i) => ({ keys: [`k${i}`], bytes: 100_000 }))

describe('the consumer with lanes of different speeds', () => {
  it('lets slow lanes add their capacity beside a fast one instead of idling', async () => {
    // an origin at 10 kB/ms (100 ms RTT) and four peers at 1 kB/ms each (20 ms RTT)
    const origin = () => pacedLane('origin', 'origin', 10_000, 100, 16)
    const peers = () => Array.from({ length: 4 }, (_, i) => pacedLane(`peer-${i}`, 'peer', 1_000, 20, 16))
    const alone = await consume({ items: items(200), lanes: [origin()] })
    const mixed = await consume({ items: items(200), lanes: [origin(), ...peers()] })
    // 20 MB: 2.1 s alone; with 14 kB/ms combined ~1.5 s
    expect(mixed.seconds).toBeLessThan(alone.seconds * 0.9)
    expect(mixed.bytesByKind.peer).toBeGreaterThan(0.15 * 20_000_000)
  }, 20_000)

  it('does not hand the peers what a fast origin still warming up would deliver sooner', async () => {
    // the origin's first 8 items at a quarter of its rate: judged by them, it looks like 2.5 kB/ms
    const origin = () => pacedLane('origin', 'origin', 10_000, 100, 16, 8)
    const peers = () => Array.from({ length: 8 }, (_, i) => pacedLane(`peer-${i}`, 'peer', 500, 20, 16))
    const alone = await consume({ items: items(200), lanes: [origin()] })
    const mixed = await consume({ items: items(200), lanes: [origin(), ...peers()] })
    expect(mixed.seconds).toBeLessThan(alone.seconds)
    // the peers' capacity share is 4 / 14 of the bytes
    expect(mixed.bytesByKind.peer).toBeLessThan(0.35 * 20_000_000)
  }, 20_000)

  it('gives the peers their share when the origin delivers far less than it offers', async () => {
    // An origin that offers 40 kB/ms but delivers 4 kB/ms (its window, not its uplink, is the
    // limit: a distant origin serving small files) beside eight peers at 1 kB/ms each. Together
    // they never do worse than the better of the two alone.
    const origin = () => pacedLane('origin', 'origin', 4_000, 100, 16, 0, 40_000)
    const peers = () => Array.from({ length: 8 }, (_, i) => pacedLane(`peer-${i}`, 'peer', 1_000, 20, 16))
    const originAlone = await consume({ items: items(100), lanes: [origin()] })
    const peersAlone = await consume({ items: items(100), lanes: peers() })
    const mixed = await consume({ items: items(100), lanes: [origin(), ...peers()] })
    const bestAlone = Math.min(originAlone.seconds, peersAlone.seconds)
    expect(mixed.seconds, `mixed ${mixed.seconds} s, best alone ${bestAlone} s`).toBeLessThan(bestAlone)
    // the peers' capacity share is 8 / 12 of the bytes
    expect(mixed.bytesByKind.peer).toBeGreaterThan(0.5 * 10_000_000)
  }, 20_000)
})

describe('the steady-state rate', () => {
  it('is the rate between 10% and 90% of the bytes, with one source or many arriving together', async () => {
    const { middleRate } = await import('../../src/experiment/workloads.ts')
    // one source: 100 chunks of 1000 bytes, one per ms after a 50 ms start-up
    const one = Array.from({ length: 100 }, (_, i) => [50 + i, 1000] as [number, number])
    expect(middleRate(one)).toBeCloseTo(1_000_000, -3)
    // four sources whose first chunks all arrive at once, then one chunk per ms in all
    const four = [
      ...Array.from({ length: 4 }, () => [50, 1000] as [number, number]),
      ...Array.from({ length: 96 }, (_, i) => [51 + i, 1000] as [number, number]),
    ]
    expect(middleRate(four)).toBeCloseTo(1_000_000, -4)
    expect(middleRate([[1, 10]])).toBeUndefined()
  })
})

describe('the consumer when a source leaves', () => {
  /** A paced lane whose reads fail, as on a reset connection, from its `failFrom`-th read on. */
  function leavingLane(label: string, failFrom: number): Lane {
    const inner = pacedLane(label, 'peer', 1_000, 10, 4)
    let reads = 0
    return {
      ...inner,
      read: async (key) => {
        if (++reads > failFrom) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          throw new Error('link down: the node left the network')
        }
        return inner.read(key)
      },
    }
  }

  it('with failover drops the lane and reads every item from the others', async () => {
    const lanes = [
      leavingLane('leaver', 5),
      ...[0, 1, 2].map((i) => pacedLane(`peer-${i}`, 'peer', 1_000, 10, 4)),
    ]
    const measure = await consume({ items: items(60), lanes, failover: true })
    expect(measure.bytes).toBe(60 * 100_000)
    expect(measure.lostLanes.map((l) => l.label)).toEqual(['leaver'])
    expect(measure.lostLanes[0]?.reason).toMatch(/left the network/)
  }, 20_000)

  it('without failover fails the run at the first failed read (so a loss is retried, not hidden)', async () => {
    const lanes = [leavingLane('leaver', 5), pacedLane('peer', 'peer', 1_000, 10, 4)]
    await expect(consume({ items: items(60), lanes })).rejects.toThrow(/left the network/)
  }, 20_000)

  it('fails when the last source leaves too', async () => {
    const lanes = [leavingLane('a', 3), leavingLane('b', 6)]
    await expect(consume({ items: items(60), lanes, failover: true })).rejects.toThrow(/left the network/)
  }, 20_000)
})
