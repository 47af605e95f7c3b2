/**
 * Per-cell statistics over repeated runs, and a deterministic confidence interval for the ratio between
 * two cells. Chunk latency percentiles come from the histogram merged over all runs: averaging per-run
 * percentiles is wrong (a p99 of p99s is not the p99), so it is never done here.
 */

import { max, median, min, quantile, sampleStandardDeviation } from 'simple-statistics'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { LatencyHistogram } from '../latency/histogram.ts'
import { seededRandom } from '../util/random.ts'
import type { Cell, Run } from './types.ts'

export const DEFAULT_BOOTSTRAP_RESAMPLES = 2000
export const DEFAULT_CONFIDENCE_LEVEL = 0.95

export interface Spread {
  n: number
  median: number
  min: number
  max: number
  q1: number
  q3: number
  iqr: number
  /** Sample standard deviation; 0 for a single run. */
  stdev: number
}

export interface LatencyPercentiles {
  count: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

export interface CellStats {
  cellId: string
  runs: number
  seconds: Spread | undefined
  throughputMBps: Spread | undefined
  ttfbMs: Spread | undefined
  epochSeconds: Spread | undefined
  stallFraction: Spread | undefined
  queueingMs: Spread | undefined
  protocolMs: Spread | undefined
  /** From the merged histogram of every run; undefined when no run recorded a latency. */
  latency: LatencyPercentiles | undefined
  originBytes: number
  peerBytes: number
  /** Share of delivered bytes that peers served instead of the origin (0 when nothing was delivered). */
  offOriginFraction: number
}

/** Median and spread of a sample; undefined for an empty sample. */
export function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined
  const xs = [...values]
  const q1 = quantile(xs, 0.25)
  const q3 = quantile(xs, 0.75)
  return {
    n: xs.length,
    median: median(xs),
    min: min(xs),
    max: max(xs),
    q1,
    q3,
    iqr: q3 - q1,
    stdev: xs.length > 1 ? sampleStandardDeviation(xs) : 0,
  }
}

/**
 * Decodes every run's encoded histogram, merges them into one and reads percentiles from the sum.
 * Empty strings (a run that recorded nothing) are skipped.
 */
export function mergedLatency(encodedHistograms: readonly string[]): LatencyPercentiles | undefined {
  const decoded = encodedHistograms
    .filter((e) => e.length > 0)
    .map((e, i) => {
      try {
        return LatencyHistogram.decode(e)
      } catch (err) {
        throw new BwnodeError(ERR.RESULTS_INVALID, `latency histogram of run ${i} does not decode`, {
          cause: err,
        })
      }
    })
  if (decoded.length === 0) return undefined
  const merged = LatencyHistogram.mergeAll(decoded)
  if (merged.count === 0) return undefined
  return {
    count: merged.count,
    p50Ms: merged.percentile(50),
    p95Ms: merged.percentile(95),
    p99Ms: merged.percentile(99),
    maxMs: merged.max,
  }
}

function optionalValues(runs: readonly Run[], pick: (r: Run) => number | undefined): number[] {
  const out: number[] = []
  for (const r of runs) {
    const v = pick(r)
    if (v !== undefined) out.push(v)
  }
  return out
}

export function cellStats(cell: Cell): CellStats {
  const runs = cell.runs
  const originBytes = runs.reduce((s, r) => s + r.originBytes, 0)
  const peerBytes = runs.reduce((s, r) => s + r.peerBytes, 0)
  const delivered = originBytes + peerBytes
  return {
    cellId: cell.id,
    runs: runs.length,
    seconds: spread(runs.map((r) => r.seconds)),
    throughputMBps: spread(runs.map((r) => r.throughputMBps)),
    ttfbMs: spread(runs.map((r) => r.ttfbMs)),
    epochSeconds: spread(optionalValues(runs, (r) => r.epochSeconds)),
    stallFraction: spread(optionalValues(runs, (r) => r.stallFraction)),
    queueingMs: spread(optionalValues(runs, (r) => r.queueingMs)),
    protocolMs: spread(optionalValues(runs, (r) => r.protocolMs)),
    latency: mergedLatency(runs.map((r) => r.latencyHistogram)),
    originBytes,
    peerBytes,
    offOriginFraction: delivered > 0 ? peerBytes / delivered : 0,
  }
}

export interface RatioInterval {
  /** median(numerator) / median(denominator) */
  ratio: number
  low: number
  high: number
  level: number
  method: 'bootstrap' | 'degenerate'
  numeratorRuns: number
  denominatorRuns: number
}

function resampleMedian(values: readonly number[], random: () => number): number {
  const sample = new Array<number>(values.length)
  for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(random() * values.length)]!
  return median(sample)
}

/**
 * Percentile bootstrap of the ratio of medians between two independent samples (runs of two cells).
 * Each resample draws both samples with replacement and takes the ratio of their medians; the interval
 * is the central `level` share of those ratios. With a single run on either side, or a zero median in
 * the denominator, there is nothing to resample: the interval collapses onto the point ('degenerate').
 */
export function ratioInterval(
  numerator: readonly number[],
  denominator: readonly number[],
  init: { seed: number; resamples?: number; level?: number },
): RatioInterval {
  if (numerator.length === 0 || denominator.length === 0) {
    throw new BwnodeError(ERR.STATS_EMPTY, 'ratio of an empty sample')
  }
  const level = init.level ?? DEFAULT_CONFIDENCE_LEVEL
  const resamples = init.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES
  const ratio = median([...numerator]) / median([...denominator])
  const base = { ratio, level, numeratorRuns: numerator.length, denominatorRuns: denominator.length }
  if (numerator.length < 2 || denominator.length < 2 || !Number.isFinite(ratio)) {
    return { ...base, low: ratio, high: ratio, method: 'degenerate' }
  }
  const random = seededRandom(init.seed)
  const ratios: number[] = []
  for (let i = 0; i < resamples; i++) {
    const d = resampleMedian(denominator, random)
    const n = resampleMedian(numerator, random)
    // A zero denominator in one resample gives an infinite ratio; it still counts as an extreme tail.
    ratios.push(d === 0 ? Number.POSITIVE_INFINITY : n / d)
  }
  ratios.sort((a, b) => a - b)
  const tail = (1 - level) / 2
  const at = (p: number) => ratios[Math.min(ratios.length - 1, Math.max(0, Math.floor(p * ratios.length)))]!
  return { ...base, low: at(tail), high: at(1 - tail), method: 'bootstrap' }
}

/** True when the whole interval sits on one side of 1. */
export function excludesOne(interval: RatioInterval): boolean {
  return interval.low > 1 || interval.high < 1
}
