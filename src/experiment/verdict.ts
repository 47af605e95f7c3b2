/**
 * The verdict per workload, from fixed comparisons chosen before the run (scenarios.ts, CELL_ROLES),
 * decided by 95% bootstrap intervals, never by the best of many cells.
 *
 * The claim is split in two and each part is judged on its own:
 * - outcome: "shared bandwidth is slower than local storage for AI data loading": local storage
 *   (role 'local') against peers at the claim's distance (role 'network');
 * - mechanism: "because distance adds latency": of the gap between the network cell and local
 *   storage, the share that moving the same peers from NEAR_DISTANCE_KM to DECIDING_DISTANCE_KM
 *   adds (role 'near' vs 'network').
 * Beside them, peers against the distant origin (W2, W4), with its own status.
 *
 * Rules, in order (the same text is printed in the report):
 *   R0 calibration failed -> inconclusive.
 *   R1 a deciding cell (local, network, near) is missing, failed or has fewer than 2 runs -> inconclusive
 *      (a live run has no near cell: its outcome is decided, its mechanism is not tested).
 *   R2 a deciding cell is not trusted: labelled machine-bound or protocol-bound by the fidelity guard,
 *      or its result moved more than DILATION_STABLE_SHARE between dilation K and 2K -> inconclusive.
 *   R3 outcome, from the interval of local's advantage in the primary metric: inside
 *      [1/(1+m), 1+m] (m = EQUIVALENCE_MARGIN) -> equivalent -> the claim fails; above 1 -> local is
 *      faster -> R4; below 1 -> peers are faster -> fails; otherwise inconclusive.
 *   R4 mechanism, from the interval of distance's share of the gap (time-like metric: seconds, or
 *      seconds per MB for throughput): lower bound >= DISTANCE_MAIN_CAUSE_SHARE -> holds; upper
 *      bound < it -> holds-for-other-reasons; otherwise inconclusive.
 * Winner: the best kind of source among local storage, peers (network) and the origin (deciding
 * cells only); the ratio compares it with the next kind, never two cells of one kind.
 */
import { median } from 'simple-statistics'
import { seededRandom } from '../util/random.ts'
import {
  DECOMPOSITION_PARTS,
  type DecompositionPart,
  decompose,
  explainGap,
  routeInflationFromKnobs,
} from './decompose.ts'
import { TRUSTED_LABELS } from './fidelity.ts'
import { type CellStats, cellStats, type RatioInterval, ratioInterval } from './stats.ts'
import { type Cell, type Results, type Run, WORKLOADS, type Workload } from './types.ts'

/** Equivalence margin: a ratio inside [1/1.1, 1.1] is "as fast as". */
export const EQUIVALENCE_MARGIN = 0.1
/** Distance is "the main cause" when it explains at least half the gap. */
export const DISTANCE_MAIN_CAUSE_SHARE = 0.5
/** A dilated cell whose result moves more than this between K and 2K is not trusted. */
export const DILATION_STABLE_SHARE = 0.05
export const MIN_RUNS_FOR_HIGH_CONFIDENCE = 5
const MIN_DECIDING_RUNS = 2
const SHARE_RESAMPLES = 2000

export type ClaimStatus = 'holds' | 'holds-for-other-reasons' | 'fails' | 'inconclusive'
export type PartStatus = 'holds' | 'fails' | 'inconclusive'
export type Confidence = 'high' | 'medium' | 'low'
export type Direction = 'first-better' | 'second-better' | 'equivalent' | 'inconclusive'

export interface PrimaryMetric {
  name: string
  unit: string
  better: 'lower' | 'higher'
  value: (run: Run) => number | undefined
}

export const PRIMARY_METRICS: Record<Workload, PrimaryMetric> = {
  'W1-random-samples': { name: 'epoch time', unit: 's', better: 'lower', value: (r) => r.epochSeconds },
  'W2-sequential-shards': {
    name: 'throughput',
    unit: 'MB/s',
    better: 'higher',
    value: (r) => r.throughputMBps,
  },
  'W3-token-stream': { name: 'time to first byte', unit: 'ms', better: 'lower', value: (r) => r.ttfbMs },
  'W4-bulk-staging': { name: 'time to stage', unit: 's', better: 'lower', value: (r) => r.seconds },
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`

export const VERDICT_RULES: readonly string[] = [
  'Fixed comparisons, chosen before the run: local = P0 local storage (cold); network = P2 residential ' +
    'peers at the claim distance; near = the same peers at the nearest distance; origin = P3 (W2, W4).',
  'R0 calibration failed -> inconclusive.',
  `R1 a deciding cell (local, network, near) missing, failed or with fewer than ${MIN_DECIDING_RUNS} runs -> inconclusive ` +
    '(a live run cannot move its peers: it has no near cell, its outcome is decided and its mechanism not tested).',
  'R2 a deciding cell not trusted (fidelity label machine-bound or protocol-bound, or its result moved more ' +
    `than ${pct(DILATION_STABLE_SHARE)} between dilation K and 2K) -> inconclusive.`,
  `R3 outcome: 95% bootstrap interval of local's advantage in the primary metric inside [1/${1 + EQUIVALENCE_MARGIN}, ` +
    `${1 + EQUIVALENCE_MARGIN}] -> equivalent -> fails; above 1 -> local faster -> R4; below 1 -> peers faster -> fails; ` +
    'otherwise inconclusive.',
  `R4 mechanism: 95% interval of distance's share of the gap (near -> network, over local -> network) with lower ` +
    `bound >= ${pct(DISTANCE_MAIN_CAUSE_SHARE)} -> holds; upper bound < ${pct(DISTANCE_MAIN_CAUSE_SHARE)} -> ` +
    'holds-for-other-reasons; otherwise inconclusive.',
  'Peers vs origin (W2, W4): the same interval rules give peers faster, origin faster, equivalent or inconclusive; ' +
    'an untrusted origin or network cell makes it inconclusive.',
  'Winner = the best kind of source (local, peers, origin) on deciding cells; ratio = its advantage over the next ' +
    `kind; confidence high if the interval excludes 1 and both have >= ${MIN_RUNS_FOR_HIGH_CONFIDENCE} runs, medium ` +
    'if it excludes 1 with fewer, low otherwise.',
]

export interface CellScore {
  cell: Cell
  stats: CellStats
  /** Median of the primary metric over runs. */
  value: number
  values: number[]
  stall: number | undefined
}

export interface Comparison {
  /** What was compared, e.g. 'local vs network'. */
  label: string
  first: CellScore
  second: CellScore
  /** Advantage of `first` over `second` in the primary metric (> 1 favours `first`). */
  ratio: RatioInterval
  direction: Direction
}

export interface ShareInterval {
  value: number
  low: number
  high: number
}

export interface WorkloadVerdict {
  workload: Workload
  status: ClaimStatus
  /** Id of the rule that decided (R0..R4). */
  rule: string
  /** The rule with this workload's numbers filled in. */
  reason: string
  metric: PrimaryMetric
  deciding: Partial<Record<'local' | 'network' | 'near' | 'origin', CellScore>>
  outcome: { status: PartStatus; reason: string; comparison?: Comparison }
  mechanism: { status: PartStatus | 'not-applicable'; reason: string; share?: ShareInterval }
  peersVsOrigin?: {
    status: 'peers-faster' | 'origin-faster' | 'equivalent' | 'inconclusive'
    reason: string
    comparison?: Comparison
  }
  winner?: CellScore
  runnerUp?: CellScore
  ratio?: RatioInterval
  confidence?: Confidence
  comparisons: Comparison[]
  /** Deciding cells the fidelity guard does not trust, with why. */
  untrusted: string[]
  /** Share of the local-vs-network gap that distance explains, measured (R4). */
  distanceShareOfGap?: number
  /** Decomposition of the local-vs-network gap (shares add up to 100%), largest first. */
  gapParts?: Array<{ part: DecompositionPart; share: number }>
}

function scoreCell(cell: Cell, metric: PrimaryMetric): CellScore | undefined {
  const values: number[] = []
  for (const r of cell.runs) {
    const v = metric.value(r)
    if (v !== undefined && Number.isFinite(v)) values.push(v)
  }
  if (values.length === 0) return undefined
  const stats = cellStats(cell)
  return { cell, stats, value: median(values), values, stall: stats.stallFraction?.median }
}

/** The advantage of `a` over `b` (> 1 favours `a`), with a bootstrap interval. */
function advantage(metric: PrimaryMetric, a: CellScore, b: CellScore, seed: number): RatioInterval {
  return metric.better === 'lower'
    ? ratioInterval(b.values, a.values, { seed })
    : ratioInterval(a.values, b.values, { seed })
}

/** Reads an advantage interval; a degenerate one (a single run) decides nothing. */
export function directionOf(ratio: RatioInterval, margin = EQUIVALENCE_MARGIN): Direction {
  if (ratio.method === 'degenerate') return 'inconclusive'
  if (ratio.low >= 1 / (1 + margin) && ratio.high <= 1 + margin) return 'equivalent'
  if (ratio.low > 1) return 'first-better'
  if (ratio.high < 1) return 'second-better'
  return 'inconclusive'
}

function compare(label: string, metric: PrimaryMetric, a: CellScore, b: CellScore, seed: number): Comparison {
  const ratio = advantage(metric, a, b, seed)
  return { label, first: a, second: b, ratio, direction: directionOf(ratio) }
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (n === 0) return '0'
  const abs = Math.abs(n)
  return abs >= 100 ? n.toFixed(0) : abs >= 1 ? n.toFixed(2) : n.toPrecision(2)
}

function describe(s: CellScore, metric: PrimaryMetric): string {
  return `${s.cell.id} ${metric.name} ${fmt(s.value)} ${metric.unit}`
}

function interval(r: RatioInterval): string {
  return `${fmt(r.ratio)}x [${fmt(r.low)}, ${fmt(r.high)}]`
}

/** Why a deciding cell is not trusted, or undefined when it is. */
export function distrust(cell: Cell): string | undefined {
  const label = cell.fidelity?.label
  if (label !== undefined && !TRUSTED_LABELS.includes(label)) {
    return `${cell.id} is ${label} (${cell.fidelity?.reason})`
  }
  const moved = cell.dilation?.check?.moved
  if (moved !== undefined && moved > DILATION_STABLE_SHARE) {
    return `${cell.id} moved ${pct(moved)} between dilation ${cell.dilation?.factor} and ${cell.dilation?.check?.factor}`
  }
  return undefined
}

/** A time-like value (lower is better) for gap shares: seconds, or seconds per MB for throughput. */
function timeLike(metric: PrimaryMetric, v: number): number {
  return metric.better === 'higher' ? 1 / v : v
}

function resampleMedian(values: readonly number[], random: () => number): number {
  const sample = values.map(() => values[Math.floor(random() * values.length)] as number)
  return median(sample)
}

/**
 * Share of the local -> network gap that the near -> network move explains, with a seeded
 * percentile bootstrap over the three cells' runs. Undefined when there is no gap.
 */
export function distanceShare(
  metric: PrimaryMetric,
  local: CellScore,
  near: CellScore,
  network: CellScore,
  seed: number,
): ShareInterval | undefined {
  const t = (xs: number[]) => xs.map((v) => timeLike(metric, v))
  const [l, n, f] = [t(local.values), t(near.values), t(network.values)]
  const share = (ml: number, mn: number, mf: number) => (mf - ml > 0 ? (mf - mn) / (mf - ml) : Number.NaN)
  const value = share(median(l), median(n), median(f))
  if (!Number.isFinite(value)) return undefined
  const random = seededRandom(seed)
  const shares: number[] = []
  for (let i = 0; i < SHARE_RESAMPLES; i++) {
    const s = share(resampleMedian(l, random), resampleMedian(n, random), resampleMedian(f, random))
    if (Number.isFinite(s)) shares.push(s)
  }
  if (shares.length < SHARE_RESAMPLES / 2)
    return { value, low: Number.NEGATIVE_INFINITY, high: Number.POSITIVE_INFINITY }
  shares.sort((a, b) => a - b)
  const at = (p: number) => shares[Math.min(shares.length - 1, Math.floor(p * shares.length))] as number
  return { value, low: at(0.025), high: at(0.975) }
}

function confidenceOf(c: Comparison): Confidence {
  if (c.direction !== 'first-better' && c.direction !== 'second-better') return 'low'
  const runs = Math.min(c.ratio.numeratorRuns, c.ratio.denominatorRuns)
  return runs >= MIN_RUNS_FOR_HIGH_CONFIDENCE ? 'high' : 'medium'
}

function better(metric: PrimaryMetric, a: CellScore, b: CellScore): boolean {
  return metric.better === 'lower' ? a.value < b.value : a.value > b.value
}

export function workloadVerdict(results: Results, workload: Workload): WorkloadVerdict {
  const metric = PRIMARY_METRICS[workload]
  const seed = results.config.seed + WORKLOADS.indexOf(workload)
  const cells = results.cells.filter((c) => c.workload === workload)
  const roleCell = (role: 'local' | 'network' | 'near' | 'origin') => cells.find((c) => c.role === role)
  const deciding: WorkloadVerdict['deciding'] = {}
  for (const role of ['local', 'network', 'near', 'origin'] as const) {
    const cell = roleCell(role)
    const score = cell === undefined ? undefined : scoreCell(cell, metric)
    if (score !== undefined) deciding[role] = score
  }
  const verdict: WorkloadVerdict = {
    workload,
    metric,
    deciding,
    status: 'inconclusive',
    rule: 'R1',
    reason: '',
    outcome: { status: 'inconclusive', reason: '' },
    mechanism: { status: 'not-applicable', reason: '' },
    comparisons: [],
    untrusted: [],
  }

  // Winner among kinds of source, and peers vs origin: reported whatever the status.
  const kinds = (['local', 'network', 'origin'] as const)
    .map((role) => deciding[role])
    .filter((s): s is CellScore => s !== undefined)
    .sort((a, b) => (better(metric, a, b) ? -1 : better(metric, b, a) ? 1 : 0))
  if (kinds.length >= 2) {
    const [winner, runnerUp] = kinds as [CellScore, CellScore]
    const c = compare('winner vs runner-up', metric, winner, runnerUp, seed + 7)
    Object.assign(verdict, { winner, runnerUp, ratio: c.ratio, confidence: confidenceOf(c) })
  }
  const { local, network, near, origin } = deciding
  if (network !== undefined && origin !== undefined) {
    const c = compare('network vs origin', metric, network, origin, seed + 202)
    verdict.comparisons.push(c)
    const untrusted = [network.cell, origin.cell].map(distrust).filter((x): x is string => x !== undefined)
    const status =
      untrusted.length > 0
        ? 'inconclusive'
        : c.direction === 'first-better'
          ? 'peers-faster'
          : c.direction === 'second-better'
            ? 'origin-faster'
            : c.direction
    verdict.peersVsOrigin = {
      status,
      comparison: c,
      reason:
        untrusted.length > 0
          ? `not decided: ${untrusted.join('; ')}`
          : `peers' advantage over the origin ${interval(c.ratio)}: ${describe(network, metric)} vs ${describe(origin, metric)}`,
    }
  }

  if (!results.calibration.passed) {
    verdict.rule = 'R0'
    verdict.reason = `calibration failed: ${results.calibration.notes || 'no notes'}; no conclusions drawn`
    verdict.outcome.reason = verdict.reason
    return verdict
  }
  // A live run cannot move its peers: without a near cell the outcome is still decided.
  const missing = (
    ['local', 'network', ...(results.config.mode === 'live' ? [] : ['near' as const])] as const
  ).filter((role) => {
    const s = deciding[role]
    return s === undefined || s.values.length < MIN_DECIDING_RUNS
  })
  if (missing.length > 0 || local === undefined || network === undefined) {
    const failed = (['local', 'network', 'near'] as const)
      .map((role) => roleCell(role))
      .filter((c): c is Cell => c?.error !== undefined)
      .map((c) => `${c.id} failed: ${c.error}`)
    verdict.rule = 'R1'
    verdict.reason = `deciding cell(s) ${missing.join(', ')} missing or with fewer than ${MIN_DECIDING_RUNS} runs${failed.length > 0 ? ` (${failed.join('; ')})` : ''}`
    verdict.outcome.reason = verdict.reason
    return verdict
  }

  const outcome = compare('local vs network', metric, local, network, seed + 101)
  verdict.comparisons.unshift(outcome)
  verdict.outcome.comparison = outcome
  verdict.untrusted = [local.cell, network.cell, ...(near === undefined ? [] : [near.cell])]
    .map(distrust)
    .filter((x): x is string => x !== undefined)
  if (verdict.untrusted.length > 0) {
    verdict.rule = 'R2'
    verdict.reason = `decided by cells this machine limits, not the links: ${verdict.untrusted.join('; ')}`
    verdict.outcome.reason = verdict.reason
    return verdict
  }

  // The decomposition of the gap explains it; it does not decide (R4 uses the measured share).
  const routeInflation = routeInflationFromKnobs(results.config.knobs)
  const gap = explainGap(
    decompose(network.cell, network.stats, { routeInflation }),
    decompose(local.cell, local.stats, { routeInflation }),
  )
  if (gap !== undefined) {
    verdict.gapParts = DECOMPOSITION_PARTS.map((part) => ({ part, share: gap.shareOfGap[part] })).sort(
      (a, b) => Math.abs(b.share) - Math.abs(a.share),
    )
  }

  const lead = `local's advantage ${interval(outcome.ratio)}: ${describe(local, metric)} vs ${describe(network, metric)}`
  verdict.rule = 'R3'
  const settle = (status: PartStatus, reason: string): WorkloadVerdict => {
    verdict.outcome = { status, comparison: outcome, reason }
    verdict.status = status === 'fails' ? 'fails' : 'inconclusive'
    verdict.reason = reason
    return verdict
  }
  if (outcome.direction === 'equivalent')
    return settle('fails', `peers as fast as local storage (within ${pct(EQUIVALENCE_MARGIN)}): ${lead}`)
  if (outcome.direction === 'second-better')
    return settle('fails', `peers faster than local storage: ${lead}`)
  if (outcome.direction === 'inconclusive')
    return settle('inconclusive', `interval neither excludes 1 nor lies within the margin: ${lead}`)
  verdict.outcome = { status: 'holds', comparison: outcome, reason: `local storage faster: ${lead}` }

  verdict.rule = 'R4'
  if (near === undefined) {
    verdict.mechanism = {
      status: 'not-applicable',
      reason: 'no cell with the same peers nearer (a live run cannot move its peers): distance is not tested',
    }
    verdict.reason = `${verdict.outcome.reason}; the mechanism is not tested without a near cell`
    return verdict
  }
  const share = distanceShare(metric, local, near, network, seed + 303)
  const moved = `${describe(near, metric)} -> ${describe(network, metric)}`
  if (share === undefined) {
    verdict.mechanism = {
      status: 'inconclusive',
      reason: 'no gap between local storage and the network cell to explain',
    }
  } else {
    verdict.distanceShareOfGap = share.value
    const text = `distance (near -> claim distance: ${moved}) explains ${pct(share.value)} [${pct(share.low)}, ${pct(share.high)}] of the gap`
    verdict.mechanism =
      share.low >= DISTANCE_MAIN_CAUSE_SHARE
        ? { status: 'holds', share, reason: text }
        : share.high < DISTANCE_MAIN_CAUSE_SHARE
          ? { status: 'fails', share, reason: text }
          : { status: 'inconclusive', share, reason: text }
  }
  verdict.status =
    verdict.mechanism.status === 'holds'
      ? 'holds'
      : verdict.mechanism.status === 'fails'
        ? 'holds-for-other-reasons'
        : 'inconclusive'
  const parts =
    verdict.gapParts === undefined
      ? ''
      : `; the gap by part: ${verdict.gapParts
          .slice(0, 3)
          .map((p) => `${p.part} ${pct(p.share)}`)
          .join(', ')}`
  verdict.reason = `${verdict.outcome.reason}; ${verdict.mechanism.reason}${parts}`
  return verdict
}

/** One verdict per workload that has at least one cell, in workload order. */
export function computeVerdicts(results: Results): WorkloadVerdict[] {
  return WORKLOADS.filter((w) => results.cells.some((c) => c.workload === w)).map((w) =>
    workloadVerdict(results, w),
  )
}
