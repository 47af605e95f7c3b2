import type { Histogram } from 'hdr-histogram-js'
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { DEFAULT_SIGNIFICANT_DIGITS, DEFAULT_TICKS_PER_UNIT } from './constants.ts'

/**
 * Latency histograms on top of HdrHistogram (pure-JS build).
 *
 * Values are recorded in whatever unit the caller uses (milliseconds or
 * microseconds) and stored as integer ticks (`value * ticksPerUnit`). Every
 * percentile a report shows should come from one of these, merged across runs or
 * peers with `merge()`: percentiles cannot be averaged, histograms can be added.
 */

export type SignificantDigits = 1 | 2 | 3 | 4 | 5

export interface LatencyHistogramInit {
  /** Integer ticks per recorded unit; 1000 with milliseconds means 1 us resolution. */
  ticksPerUnit?: number
  /** Relative precision: 3 digits keep every value within 0.1%. */
  significantDigits?: SignificantDigits
}

/** Percentiles and moments of a histogram, in the recorded unit. All zero when `count` is 0. */
export interface LatencySummary {
  p50: number
  p90: number
  p95: number
  p99: number
  min: number
  max: number
  mean: number
  count: number
}

const ENCODING_PREFIX = 'h1'

export class LatencyHistogram {
  readonly ticksPerUnit: number
  private hist: Histogram

  constructor(init: LatencyHistogramInit = {}) {
    const ticksPerUnit = init.ticksPerUnit ?? DEFAULT_TICKS_PER_UNIT
    if (!Number.isFinite(ticksPerUnit) || ticksPerUnit <= 0) {
      throw new BwnodeError(
        ERR.INVALID_HISTOGRAM,
        `ticksPerUnit must be a positive number, got ${ticksPerUnit}`,
      )
    }
    this.ticksPerUnit = ticksPerUnit
    this.hist = build({
      useWebAssembly: false,
      autoResize: true,
      numberOfSignificantValueDigits: init.significantDigits ?? DEFAULT_SIGNIFICANT_DIGITS,
    })
  }

  /** Record one value (>= 0, finite) in the caller's unit, optionally `count` times. */
  record(value: number, count = 1): void {
    if (!Number.isFinite(value) || value < 0) {
      throw new BwnodeError(ERR.INVALID_LATENCY, `latency must be a finite number >= 0, got ${value}`)
    }
    if (!Number.isInteger(count) || count < 1) {
      throw new BwnodeError(ERR.INVALID_LATENCY, `count must be a positive integer, got ${count}`)
    }
    this.hist.recordValueWithCount(Math.round(value * this.ticksPerUnit), count)
  }

  /** Add every value of `other` into this histogram. Both must use the same ticksPerUnit. */
  merge(other: LatencyHistogram): this {
    this.assertCompatible(other)
    this.hist.add(other.hist)
    return this
  }

  /**
   * Remove values previously recorded (used to drop pruned samples from a
   * sliding window). Exact because the same values land in the same buckets.
   */
  subtract(other: LatencyHistogram): this {
    this.assertCompatible(other)
    this.hist.subtract(other.hist)
    return this
  }

  /** Value at percentile `p` (0..100) in the caller's unit; 0 when empty. */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) {
      throw new BwnodeError(ERR.INVALID_PERCENTILE, `percentile must be within 0..100, got ${p}`)
    }
    if (this.count === 0) return 0
    return this.hist.getValueAtPercentile(p) / this.ticksPerUnit
  }

  get count(): number {
    return this.hist.totalCount
  }

  get max(): number {
    return this.count === 0 ? 0 : this.hist.getValueAtPercentile(100) / this.ticksPerUnit
  }

  get min(): number {
    return this.count === 0 ? 0 : this.hist.getValueAtPercentile(0) / this.ticksPerUnit
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.hist.mean / this.ticksPerUnit
  }

  summary(): LatencySummary {
    return {
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
      min: this.min,
      max: this.max,
      mean: this.mean,
      count: this.count,
    }
  }

  reset(): void {
    this.hist.reset()
  }

  clone(): LatencyHistogram {
    return LatencyHistogram.decode(this.encode())
  }

  /** A compact string (`h1:<ticksPerUnit>:<compressed base64>`) to keep in LevelDB or JSON. */
  encode(): string {
    return `${ENCODING_PREFIX}:${this.ticksPerUnit}:${encodeIntoCompressedBase64(this.hist)}`
  }

  static decode(text: string): LatencyHistogram {
    const [prefix, ticks, payload, ...rest] = text.split(':')
    const ticksPerUnit = Number(ticks)
    if (prefix !== ENCODING_PREFIX || payload === undefined || rest.length > 0 || !(ticksPerUnit > 0)) {
      throw new BwnodeError(ERR.HISTOGRAM_DECODE, 'not an encoded latency histogram')
    }
    let hist: Histogram
    try {
      hist = decodeFromCompressedBase64(payload, 32, false)
    } catch (err) {
      throw new BwnodeError(ERR.HISTOGRAM_DECODE, `cannot decode histogram: ${(err as Error).message}`, {
        cause: err,
      })
    }
    hist.autoResize = true
    const out = new LatencyHistogram({ ticksPerUnit })
    out.hist = hist
    return out
  }

  /** A new histogram holding the values of all `histograms` (which must share ticksPerUnit). */
  static mergeAll(histograms: Iterable<LatencyHistogram>, init: LatencyHistogramInit = {}): LatencyHistogram {
    let out: LatencyHistogram | undefined
    for (const h of histograms) {
      out ??= new LatencyHistogram({ ...init, ticksPerUnit: init.ticksPerUnit ?? h.ticksPerUnit })
      out.merge(h)
    }
    return out ?? new LatencyHistogram(init)
  }

  private assertCompatible(other: LatencyHistogram): void {
    if (other.ticksPerUnit !== this.ticksPerUnit) {
      throw new BwnodeError(
        ERR.INVALID_HISTOGRAM,
        `cannot combine histograms with ticksPerUnit ${this.ticksPerUnit} and ${other.ticksPerUnit}`,
      )
    }
  }
}

/** Record every value into a fresh histogram (convenience for tests and reports). */
export function histogramOf(values: Iterable<number>, init: LatencyHistogramInit = {}): LatencyHistogram {
  const h = new LatencyHistogram(init)
  for (const v of values) h.record(v)
  return h
}
