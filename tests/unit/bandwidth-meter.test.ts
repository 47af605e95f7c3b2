import { describe, expect, it } from 'vitest'
import { BandwidthMeter } from '../../src/node/bandwidth.ts'

describe('BandwidthMeter', () => {
  it('a steady stream reads its rate; totals add up per peer, per dataset and overall', () => {
    let now = 1_000_000
    const meter = new BandwidthMeter({ clock: () => now, rateTimeConstantMs: 5_000 })
    // 1 MB/s in from peer A (10 kB every 10 ms for 60 s), 100 kB/s out to peer B.
    for (let i = 0; i < 6000; i++) {
      now += 10
      meter.received('A', 'data-1', 10_000)
      if (i % 10 === 0) meter.sent('B', 10_000)
    }
    meter.sentFor('data-1', 5_000)
    const report = meter.report()
    expect(report.since).toBe(1_000_000)
    expect(report.totalIn).toBe(60_000_000)
    expect(report.totalOut).toBe(6_000_000)
    expect(report.rateIn / 1e6).toBeCloseTo(1, 2)
    expect(report.rateOut / 1e5).toBeGreaterThan(0.95)
    expect(report.rateOut / 1e5).toBeLessThan(1.05)
    expect(report.peers.map((p) => [p.peerId, p.totalIn, p.totalOut])).toEqual([
      ['A', 60_000_000, 0],
      ['B', 0, 6_000_000],
    ])
    expect(report.datasets).toEqual([
      expect.objectContaining({ cid: 'data-1', name: null, totalIn: 60_000_000, totalOut: 5_000 }),
    ])
  })

  it('the rate decays once traffic stops, to 0 in the report', () => {
    let now = 0
    const meter = new BandwidthMeter({ clock: () => now, rateTimeConstantMs: 5_000 })
    for (let i = 0; i < 1000; i++) {
      now += 10
      meter.received('A', undefined, 1_000)
    }
    const running = meter.report().rateIn
    now += 5_000
    expect(meter.report().rateIn / running).toBeCloseTo(Math.exp(-1), 2)
    now += 120_000
    expect(meter.report()).toMatchObject({ rateIn: 0, totalIn: 1_000_000 })
    expect(meter.report().datasets).toEqual([])
  })

  it('keeps at most maxEntries peers, forgetting the least recently active; the totals keep them', () => {
    const meter = new BandwidthMeter({ maxEntries: 3 })
    for (const peer of ['A', 'B', 'C']) meter.sent(peer, 1)
    meter.sent('A', 1)
    meter.sent('D', 1)
    expect(
      meter
        .report()
        .peers.map((p) => p.peerId)
        .sort(),
    ).toEqual(['A', 'C', 'D'])
    expect(meter.report().totalOut).toBe(5)
  })

  it('keeps a history of mean rates per slot, zeros where nothing moved, a bounded window', () => {
    let now = 100_000 // counting starts 0 s into a 10 s slot
    const meter = new BandwidthMeter({ clock: () => now, historySlotMs: 10_000, historySlots: 6 })
    meter.received('A', undefined, 50_000) // slot 100 000
    now = 115_000
    meter.sent('B', 20_000) // slot 110 000
    now = 135_000 // the 130 000 slot is half over
    meter.received('A', undefined, 10_000)
    expect(meter.history()).toEqual([
      { time: 100_000, rateIn: 5_000, rateOut: 0 },
      { time: 110_000, rateIn: 0, rateOut: 2_000 },
      { time: 120_000, rateIn: 0, rateOut: 0 },
      { time: 130_000, rateIn: 2_000, rateOut: 0 },
    ])
    expect(meter.peer('A')).toEqual({ totalIn: 60_000, totalOut: 0, rateIn: expect.any(Number), rateOut: 0 })
    expect(meter.peer('nobody')).toBeUndefined()

    // Past the ring's reach the oldest slots drop out; a reused slot starts from zero.
    now = 205_000
    meter.sent('B', 5_000)
    const history = meter.history()
    expect(history.map((p) => p.time)).toEqual([150_000, 160_000, 170_000, 180_000, 190_000, 200_000])
    expect(history.at(-1)).toEqual({ time: 200_000, rateIn: 0, rateOut: 1_000 })
    expect(history.slice(0, -1).every((p) => p.rateIn === 0 && p.rateOut === 0)).toBe(true)
  })
})
