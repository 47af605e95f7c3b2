import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BwnodeError } from '../../src/errors/index.ts'
import { histogramOf, LatencyHistogram } from '../../src/latency/histogram.ts'
import { seededRandom } from '../../src/util/random.ts'

/** Nearest-rank percentile of sorted values: the smallest value with at least p% at or below it. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1]!
}

/** 3 significant digits: a bucket spans at most 0.1% of its value, plus one tick of rounding. */
function closeTo(actual: number, expected: number, ticksPerUnit = 1000): boolean {
  return Math.abs(actual - expected) <= expected * 0.001 + 1 / ticksPerUnit
}

describe('LatencyHistogram', () => {
  it('matches exact percentiles of a skewed sample within its precision', () => {
    const random = seededRandom(7)
    // Log-normal-ish latencies between ~0.1 ms and a few seconds.
    const values = Array.from({ length: 20_000 }, () => Math.exp(random() * 10 - 2))
    const hist = histogramOf(values)
    const sorted = [...values].sort((a, b) => a - b)
    for (const p of [1, 10, 50, 90, 95, 99, 99.9]) {
      const exact = exactPercentile(sorted, p)
      expect(closeTo(hist.percentile(p), exact), `p${p}: ${hist.percentile(p)} vs ${exact}`).toBe(true)
    }
    expect(closeTo(hist.max, sorted[sorted.length - 1]!)).toBe(true)
    expect(hist.count).toBe(values.length)
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    expect(Math.abs(hist.mean - mean) / mean).toBeLessThan(0.001)
  })

  it('agrees with exact percentiles for arbitrary inputs (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.1, max: 100, noNaN: true }),
        (values, p) => {
          const hist = histogramOf(values)
          const sorted = [...values].map((v) => Math.round(v * 1000) / 1000).sort((a, b) => a - b)
          return closeTo(hist.percentile(p), exactPercentile(sorted, p))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('merging histograms equals recording everything into one (never averaging percentiles)', () => {
    const random = seededRandom(11)
    const fast = Array.from({ length: 5000 }, () => 1 + random())
    const slow = Array.from({ length: 500 }, () => 100 + random() * 50)
    const merged = LatencyHistogram.mergeAll([histogramOf(fast), histogramOf(slow)])
    const all = histogramOf([...fast, ...slow])
    expect(merged.summary()).toEqual(all.summary())
    // The merged p95 lies in the slow group; averaging the groups' p95s would not.
    const sorted = [...fast, ...slow].sort((a, b) => a - b)
    expect(closeTo(merged.percentile(95), exactPercentile(sorted, 95))).toBe(true)
    expect(merged.percentile(95)).toBeGreaterThan(100)
  })

  it('subtract removes exactly what was added', () => {
    const a = histogramOf([1, 2, 3, 50, 60])
    a.subtract(histogramOf([50, 60]))
    expect(a.count).toBe(3)
    expect(closeTo(a.max, 3)).toBe(true)
  })

  it('round-trips through its string encoding', () => {
    const hist = histogramOf([0.5, 1.25, 3, 800, 12_000])
    const text = hist.encode()
    expect(text.startsWith('h1:1000:')).toBe(true)
    const back = LatencyHistogram.decode(text)
    expect(back.summary()).toEqual(hist.summary())
    back.record(20_000)
    expect(closeTo(back.max, 20_000)).toBe(true)
    expect(back.count).toBe(6)
  })

  it('supports microsecond values at 1 us resolution', () => {
    const hist = histogramOf([120, 250, 999], { ticksPerUnit: 1 })
    expect(hist.percentile(50)).toBe(250)
    expect(() => hist.merge(histogramOf([1]))).toThrow(BwnodeError)
  })

  it('summarises an empty histogram as zeros and rejects bad input', () => {
    expect(new LatencyHistogram().summary()).toEqual({
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
      min: 0,
      max: 0,
      mean: 0,
      count: 0,
    })
    const hist = new LatencyHistogram()
    expect(() => hist.record(-1)).toThrow(BwnodeError)
    expect(() => hist.record(Number.NaN)).toThrow(BwnodeError)
    expect(() => hist.percentile(101)).toThrow(BwnodeError)
    for (const bad of ['', 'h1:1000', 'h2:1000:AAAA', 'h1:0:AAAA', 'h1:1000:!!!!']) {
      expect(() => LatencyHistogram.decode(bad)).toThrow(BwnodeError)
    }
  })
})
