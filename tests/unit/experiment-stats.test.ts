import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_ROUTE_INFLATION,
  decompose,
  explainGap,
  propagationOneWayMs,
  serialisationMs,
} from '../../src/experiment/decompose.ts'
import { cellStats, excludesOne, mergedLatency, ratioInterval, spread } from '../../src/experiment/stats.ts'
import { type Cell, parseResults, RESULTS_SCHEMA_VERSION, type Run } from '../../src/experiment/types.ts'
import { histogramOf } from '../../src/latency/histogram.ts'

function run(partial: Partial<Run> & { latenciesMs?: number[] }): Run {
  const { latenciesMs, ...rest } = partial
  return {
    seconds: 1,
    bytes: 1_000_000,
    throughputMBps: 1,
    ttfbMs: 1,
    latencyHistogram: histogramOf(latenciesMs ?? [1]).encode(),
    originBytes: 0,
    peerBytes: 0,
    ...rest,
  }
}

function cell(partial: Partial<Cell>): Cell {
  return {
    id: 'c',
    workload: 'W2-sequential-shards',
    placement: 'P2-residential-peers',
    inFlight: 1,
    chunkSizeBytes: 100_000,
    model: { oneWayDelayMs: { propagationMs: 0, accessMs: 0 }, rateMbps: 0 },
    runs: [run({})],
    ...partial,
  }
}

describe('percentiles from merged histograms', () => {
  it('differ from the average of per-run percentiles when runs differ', () => {
    const fast = Array.from({ length: 1000 }, () => 1)
    const slow = Array.from({ length: 10 }, () => 200)
    const c = cell({ runs: [run({ latenciesMs: fast }), run({ latenciesMs: slow })] })
    const merged = cellStats(c).latency!
    const perRun = [
      mergedLatency([c.runs[0]!.latencyHistogram])!,
      mergedLatency([c.runs[1]!.latencyHistogram])!,
    ]
    const averagedP50 = (perRun[0]!.p50Ms + perRun[1]!.p50Ms) / 2
    const averagedP99 = (perRun[0]!.p99Ms + perRun[1]!.p99Ms) / 2
    expect(averagedP50).toBeGreaterThan(100)
    expect(averagedP99).toBeGreaterThan(100)
    expect(merged.count).toBe(1010)
    expect(merged.p50Ms).toBeCloseTo(1, 2)
    expect(merged.p99Ms).toBeCloseTo(1, 2)
    expect(merged.maxMs).toBeCloseTo(200, 0)
  })

  it('match the percentiles of all samples pooled (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }), {
          minLength: 1,
          maxLength: 5,
        }),
        (runs) => {
          const merged = mergedLatency(runs.map((r) => histogramOf(r).encode()))!
          const pooled = histogramOf(runs.flat())
          expect(merged.count).toBe(runs.flat().length)
          expect(merged.p50Ms).toBe(pooled.percentile(50))
          expect(merged.p99Ms).toBe(pooled.percentile(99))
        },
      ),
      { numRuns: 50 },
    )
  })

  it('reject a histogram that does not decode', () => {
    expect(() => mergedLatency(['garbage'])).toThrow(/does not decode/)
  })
})

describe('spread', () => {
  it('reports median, range, IQR and stdev', () => {
    const s = spread([5, 1, 3, 2, 4])!
    expect(s).toMatchObject({ n: 5, median: 3, min: 1, max: 5 })
    expect(s.iqr).toBeGreaterThan(0)
    expect(s.stdev).toBeCloseTo(Math.sqrt(2.5), 9)
    expect(spread([])).toBeUndefined()
    expect(spread([7])!.stdev).toBe(0)
  })

  it('sums bytes off the origin', () => {
    const c = cell({
      runs: [run({ originBytes: 300, peerBytes: 700 }), run({ originBytes: 100, peerBytes: 900 })],
    })
    expect(cellStats(c).offOriginFraction).toBeCloseTo(0.8, 9)
  })
})

describe('ratio interval', () => {
  it('is deterministic for a seed and brackets the point ratio', () => {
    const a = [10, 11, 12, 10.5, 11.5]
    const b = [5, 5.2, 4.9, 5.1, 5.05]
    const one = ratioInterval(a, b, { seed: 7 })
    const two = ratioInterval(a, b, { seed: 7 })
    expect(one).toEqual(two)
    expect(one.method).toBe('bootstrap')
    expect(one.low).toBeLessThanOrEqual(one.ratio)
    expect(one.high).toBeGreaterThanOrEqual(one.ratio)
    expect(excludesOne(one)).toBe(true)
  })

  it('includes 1 when the samples overlap heavily', () => {
    const r = ratioInterval([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 2, 4], { seed: 1 })
    expect(excludesOne(r)).toBe(false)
  })

  it('collapses to the point with a single run', () => {
    const r = ratioInterval([2], [1, 1], { seed: 1 })
    expect(r).toMatchObject({ ratio: 2, low: 2, high: 2, method: 'degenerate' })
  })
})

describe('latency decomposition', () => {
  it('uses 4.9 us/km with route inflation, both ways', () => {
    expect(propagationOneWayMs(100, 1)).toBeCloseTo(0.49, 9)
    expect(propagationOneWayMs(1000)).toBeCloseTo(4.9 * DEFAULT_ROUTE_INFLATION, 9)
    expect(serialisationMs(125_000, 1)).toBeCloseTo(1000, 9)
    expect(serialisationMs(1, 0)).toBe(0)
  })

  it('splits a run into a timeline that adds up to the run time', () => {
    const c = cell({
      distanceKm: 100,
      inFlight: 4,
      chunkSizeBytes: 100_000,
      k: 2,
      model: { oneWayDelayMs: { propagationMs: 0.75, accessMs: 10 }, rateMbps: 20 },
      runs: [run({ seconds: 30, bytes: 10_000_000, ttfbMs: 40, latenciesMs: [100, 100, 100] })],
    })
    const d = decompose(c, cellStats(c), { routeInflation: 1.5 })
    expect(d.rttMs.propagation).toBeCloseTo(1.47, 9)
    expect(d.rttMs.access).toBeCloseTo(20, 9)
    expect(d.partsMs.propagation).toBeCloseTo(1.47, 9)
    expect(d.partsMs.access).toBeCloseTo(20, 9)
    expect(d.partsMs.startup).toBeCloseTo(40 - 21.47, 9)
    // 10 MB over two 20 Mbit/s links
    expect(d.partsMs.transfer).toBeCloseTo(2000, 6)
    expect(d.partsMs.other).toBeCloseTo(30_000 - 40 - 2000, 6)
    const sum = Object.values(d.partsMs).reduce((s, x) => s + x, 0)
    expect(sum).toBeCloseTo(30_000, 6)
    expect(Object.values(d.shares).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9)
  })

  it('never puts more round trip in a run than its measured first byte holds', () => {
    const c = cell({
      distanceKm: 100,
      model: { oneWayDelayMs: { propagationMs: 0.75, accessMs: 10 }, rateMbps: 20 },
      runs: [run({ seconds: 1, ttfbMs: 5 })],
    })
    const d = decompose(c, cellStats(c), { routeInflation: 1.5 })
    expect(d.partsMs.propagation).toBeCloseTo(1.47, 9)
    expect(d.partsMs.access).toBeCloseTo(5 - 1.47, 9)
    expect(d.partsMs.startup).toBe(0)
  })

  it('explains a gap part by part, the shares adding up to 1', () => {
    const slow = cell({
      distanceKm: 1000,
      model: { oneWayDelayMs: { propagationMs: 7.35, accessMs: 0 }, rateMbps: 100 },
      runs: [run({ seconds: 2, bytes: 10_000_000, ttfbMs: 15, latenciesMs: [15] })],
    })
    const fast = cell({
      placement: 'P0-local-warm',
      runs: [run({ seconds: 0.5, bytes: 10_000_000, ttfbMs: 0.2 })],
    })
    const gap = explainGap(decompose(slow, cellStats(slow)), decompose(fast, cellStats(fast)))!
    expect(gap.gapMs).toBeCloseTo(1500, 6)
    // one round trip of 14.7 ms propagation in a gap of 1500 ms
    expect(gap.shareOfGap.propagation).toBeCloseTo(14.7 / 1500, 6)
    expect(Object.values(gap.shareOfGap).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9)
    expect(explainGap(decompose(fast, cellStats(fast)), decompose(slow, cellStats(slow)))).toBeUndefined()
  })
})

describe('results schema', () => {
  const valid = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    startedAt: '2025-01-01T00:00:00Z',
    config: { mode: 'quick', seed: 1, repetitions: 5, knobs: { inFlight: [1, 16] } },
    machine: { cpus: 2, memGiB: 4, platform: 'linux', node: 'v24' },
    versions: { bwnode: '0.1.0' },
    calibration: { zeroDelayOverheadRatio: 0.98, rtt: [], rate: [], passed: true, notes: '' },
    cells: [cell({})],
  }

  it('round-trips through JSON', () => {
    expect(parseResults(JSON.parse(JSON.stringify(valid)))).toEqual(valid)
  })

  it('rejects unknown placements, bad stall fractions and other schema versions', () => {
    expect(() => parseResults({ ...valid, schemaVersion: 99 })).toThrow(/invalid results/)
    expect(() => parseResults({ ...valid, cells: [{ ...cell({}), placement: 'P9-moon' }] })).toThrow(
      /placement/,
    )
    expect(() => parseResults({ ...valid, cells: [cell({ runs: [run({ stallFraction: 1.5 })] })] })).toThrow(
      /invalid results/,
    )
  })
})
