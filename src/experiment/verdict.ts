/**
 * The verdict per workload, computed from the measurements: who wins, by what ratio (with a bootstrap
 * confidence interval), with what confidence, and whether the claim holds for that workload.
 *
 * Decision rules, applied in order for each workload (the same text is printed in the report):
 *   R0 calibration: if the emulator calibration failed, every workload is 'inconclusive'; nothing
 *      measured through an emulator we cannot trust supports a conclusion.
 *   R1 data: L = best local cell (P0 cold or warm), P = best shared-bandwidth cell (P2 residential peers
 *      or P4 origin plus peers), O = best distant-origin cell (P3). Without runs for L and P the
 *      workload is 'inconclusive'.
 *   R2 peers meet the need -> 'fails':
 *      W1: P's median stall fraction at the target rate is <= STALL_FREE_FRACTION, or P's epoch time is
 *          within MATCH_TOLERANCE of L's;
 *      W3: P's median stall fraction is <= STALL_FREE_FRACTION (the stream never waits), or P's TTFB is
 *          within MATCH_TOLERANCE of L's;
 *      W2/W4: P's throughput / time to stage matches or beats L's, or the best P2 (peers alone) cell
 *          matches or beats O's (within MATCH_TOLERANCE).
 *   R3 local wins -> L's primary metric beats P's by more than MATCH_TOLERANCE. Then the gap in median
 *      run time between P and L is decomposed (see decompose.ts): if propagation (distance) explains
 *      >= DISTANCE_MAIN_CAUSE_SHARE of the gap the claim 'holds'; otherwise it 'holds-for-other-reasons'
 *      and the report names the parts (access, queueing, transfer cap, protocol) that do explain it.
 *      When P is not slower in run time, P's own propagation share is used instead.
 *   R4 anything else (e.g. a primary metric missing from the runs): 'inconclusive'.
 * Winner: the placement whose best cell has the best primary metric (W1 epoch time; W2 throughput;
 * W3 stall fraction, ties within STALL_TIE_FRACTION broken by TTFB; W4 time to stage). Ratio: winner's
 * advantage over the best cell of the runner-up placement (>= 1 means the winner is better), with a
 * seeded 95% bootstrap interval. Confidence: 'high' if the interval excludes 1, calibration passed and
 * both cells have >= MIN_RUNS_FOR_HIGH_CONFIDENCE runs; 'medium' if the interval excludes 1 with fewer
 * runs; 'low' otherwise.
 */
import {
  DECOMPOSITION_PARTS,
  type DecompositionPart,
  decompose,
  explainGap,
  routeInflationFromKnobs,
} from './decompose.ts'
import { type CellStats, cellStats, excludesOne, type RatioInterval, ratioInterval } from './stats.ts'
import {
  type Cell,
  LOCAL_PLACEMENTS,
  ORIGIN_PLACEMENTS,
  type Placement,
  type Results,
  type Run,
  SHARED_PEER_PLACEMENTS,
  WORKLOADS,
  type Workload,
} from './types.ts'

/** Within 10% counts as a match: closer than that is inside the noise of an emulated run. */
export const MATCH_TOLERANCE = 0.1
/** A consumer that waits at most 2% of the time counts as fed "without stalls". */
export const STALL_FREE_FRACTION = 0.02
/** W3 ranking: stall fractions closer than this are a tie, broken by TTFB. */
export const STALL_TIE_FRACTION = 0.01
/** Distance is "the main cause" when propagation explains at least half the gap. */
export const DISTANCE_MAIN_CAUSE_SHARE = 0.5
export const MIN_RUNS_FOR_HIGH_CONFIDENCE = 5

export type ClaimStatus = 'holds' | 'holds-for-other-reasons' | 'fails' | 'inconclusive'
export type Confidence = 'high' | 'medium' | 'low'

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
  'W3-token-stream': { name: 'TTFB', unit: 'ms', better: 'lower', value: (r) => r.ttfbMs },
  'W4-bulk-staging': { name: 'time to stage', unit: 's', better: 'lower', value: (r) => r.seconds },
}

export const VERDICT_RULES: readonly string[] = [
  'R0 calibration: if the emulator calibration failed, every workload is inconclusive and no conclusion is drawn.',
  'R1 data: L = best local cell (P0 cold or warm), P = best shared-bandwidth cell (P2 residential peers or ' +
    'P4 origin plus peers), O = best distant-origin cell (P3). Without runs for both L and P: inconclusive.',
  `R2 peers meet the need -> fails. W1: P's median stall fraction <= ${STALL_FREE_FRACTION} at the target ` +
    `rate, or P's epoch time within ${MATCH_TOLERANCE * 100}% of L's. W3: P's median stall fraction <= ` +
    `${STALL_FREE_FRACTION}, or P's TTFB within ${MATCH_TOLERANCE * 100}% of L's. W2/W4: P's throughput / ` +
    `time to stage matches (within ${MATCH_TOLERANCE * 100}%) or beats L's, or the best peers-alone (P2) ` +
    `cell matches or beats O's (origin plus peers matching the origin proves nothing about the peers).`,
  `R3 local wins by more than ${MATCH_TOLERANCE * 100}% -> decompose the run-time gap between P and L: ` +
    `propagation (distance) explains >= ${DISTANCE_MAIN_CAUSE_SHARE * 100}% of it -> holds; otherwise ` +
    'holds-for-other-reasons (access, queueing, uplink cap or protocol explain it). If P is not slower in ' +
    "run time, P's own propagation share is used.",
  'R4 anything else (a primary metric missing): inconclusive.',
  'Winner = placement with the best primary metric (W1 epoch time, W2 throughput, W3 stall fraction then ' +
    `TTFB, W4 time to stage); ratio = its advantage over the runner-up placement with a seeded 95% ` +
    `bootstrap interval; confidence high if the interval excludes 1, calibration passed and both cells have ` +
    `>= ${MIN_RUNS_FOR_HIGH_CONFIDENCE} runs; medium if it excludes 1 with fewer runs; low otherwise.`,
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
  /** What was compared, e.g. 'local vs peers'. */
  label: string
  better: CellScore
  worse: CellScore
  /** Advantage of `better` over `worse` in the primary metric (>= 1 favours `better`). */
  ratio: RatioInterval
}

export interface WorkloadVerdict {
  workload: Workload
  status: ClaimStatus
  /** Id of the rule that decided (R0..R4). */
  rule: string
  /** The rule with this workload's numbers filled in. */
  reason: string
  metric: PrimaryMetric
  winner?: CellScore
  runnerUp?: CellScore
  ratio?: RatioInterval
  confidence?: Confidence
  /** Local vs peers (and peers vs origin for W2/W4) as measured. */
  comparisons: Comparison[]
  /** Share of the P-vs-L run-time gap that distance (propagation) explains, when computed. */
  distanceShareOfGap?: number
  /** Largest decomposition parts of the gap, largest first. */
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
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const value = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { cell, stats, value, values, stall: stats.stallFraction?.median }
}

/** Negative when `a` is better than `b`. */
function compareScores(workload: Workload, metric: PrimaryMetric, a: CellScore, b: CellScore): number {
  if (workload === 'W3-token-stream') {
    const sa = a.stall ?? 0
    const sb = b.stall ?? 0
    if (Math.abs(sa - sb) > STALL_TIE_FRACTION) return sa - sb
  }
  return metric.better === 'lower' ? a.value - b.value : b.value - a.value
}

function best(workload: Workload, metric: PrimaryMetric, scores: CellScore[]): CellScore | undefined {
  let top: CellScore | undefined
  for (const s of scores) if (top === undefined || compareScores(workload, metric, s, top) < 0) top = s
  return top
}

/** The advantage of `better` over `worse` (>= 1 favours `better`), with a bootstrap interval. */
function advantage(metric: PrimaryMetric, better: CellScore, worse: CellScore, seed: number): RatioInterval {
  return metric.better === 'lower'
    ? ratioInterval(worse.values, better.values, { seed })
    : ratioInterval(better.values, worse.values, { seed })
}

/** True when `a` is at least as good as `b`, allowing MATCH_TOLERANCE. */
function matchesOrBeats(metric: PrimaryMetric, a: CellScore, b: CellScore): boolean {
  return metric.better === 'lower'
    ? a.value <= b.value * (1 + MATCH_TOLERANCE)
    : a.value * (1 + MATCH_TOLERANCE) >= b.value
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (n === 0) return '0'
  const abs = Math.abs(n)
  return abs >= 100 ? n.toFixed(0) : abs >= 1 ? n.toFixed(2) : n.toPrecision(2)
}

function describe(s: CellScore, metric: PrimaryMetric): string {
  return `${s.cell.placement} (${s.cell.id}) ${metric.name} ${fmt(s.value)} ${metric.unit}`
}

function confidenceOf(ratio: RatioInterval, calibrationPassed: boolean): Confidence {
  if (!excludesOne(ratio)) return 'low'
  const runs = Math.min(ratio.numeratorRuns, ratio.denominatorRuns)
  return calibrationPassed && runs >= MIN_RUNS_FOR_HIGH_CONFIDENCE ? 'high' : 'medium'
}

export function workloadVerdict(results: Results, workload: Workload): WorkloadVerdict {
  const metric = PRIMARY_METRICS[workload]
  const base = { workload, metric, comparisons: [] as Comparison[] }
  if (!results.calibration.passed) {
    return {
      ...base,
      status: 'inconclusive',
      rule: 'R0',
      reason: `calibration failed: ${results.calibration.notes || 'no notes'}; no conclusions drawn`,
    }
  }

  const seed = results.config.seed + WORKLOADS.indexOf(workload)
  const scores: CellScore[] = []
  for (const cell of results.cells) {
    if (cell.workload !== workload) continue
    const s = scoreCell(cell, metric)
    if (s !== undefined) scores.push(s)
  }
  const among = (placements: readonly Placement[]) =>
    best(
      workload,
      metric,
      scores.filter((s) => placements.includes(s.cell.placement)),
    )

  const verdict: WorkloadVerdict = { ...base, status: 'inconclusive', rule: 'R4', reason: '' }
  const winner = best(workload, metric, scores)
  if (winner !== undefined) {
    verdict.winner = winner
    const runnerUp = best(
      workload,
      metric,
      scores.filter((s) => s.cell.placement !== winner.cell.placement),
    )
    if (runnerUp !== undefined) {
      verdict.runnerUp = runnerUp
      verdict.ratio = advantage(metric, winner, runnerUp, seed)
      verdict.confidence = confidenceOf(verdict.ratio, results.calibration.passed)
    }
  }

  const local = among(LOCAL_PLACEMENTS)
  const peers = among(SHARED_PEER_PLACEMENTS)
  const origin = among(ORIGIN_PLACEMENTS)
  if (local === undefined || peers === undefined) {
    verdict.rule = 'R1'
    verdict.reason = `missing data: ${local === undefined ? 'no local (P0) cell' : ''}${
      local === undefined && peers === undefined ? ' and ' : ''
    }${peers === undefined ? 'no shared-peer (P2/P4) cell' : ''} with ${metric.name} measured`
    return verdict
  }

  const localWinsOverPeers = !matchesOrBeats(metric, peers, local)
  verdict.comparisons.push(
    localWinsOverPeers
      ? {
          label: 'local vs peers',
          better: local,
          worse: peers,
          ratio: advantage(metric, local, peers, seed + 101),
        }
      : {
          label: 'peers vs local',
          better: peers,
          worse: local,
          ratio: advantage(metric, peers, local, seed + 101),
        },
  )
  const bulk = workload === 'W2-sequential-shards' || workload === 'W4-bulk-staging'
  // Against the origin only the peers alone count: "origin plus peers" matching the origin can
  // simply be the origin doing all the work.
  const peersAlone = among(['P2-residential-peers'])
  if (bulk && origin !== undefined && peersAlone !== undefined) {
    const peersMatchOrigin = matchesOrBeats(metric, peersAlone, origin)
    const [better, worse] = peersMatchOrigin ? [peersAlone, origin] : [origin, peersAlone]
    verdict.comparisons.push({
      label: peersMatchOrigin ? 'peers vs origin' : 'origin vs peers',
      better,
      worse,
      ratio: advantage(metric, better, worse, seed + 202),
    })
  }

  // R2: peers meet the need.
  const failReasons: string[] = []
  if (workload === 'W1-random-samples' || workload === 'W3-token-stream') {
    if (peers.stall !== undefined && peers.stall <= STALL_FREE_FRACTION) {
      const target = peers.cell.targetRateMBps
      failReasons.push(
        `peers feed the consumer without stalls: ${describe(peers, metric)}, stall fraction ${fmt(peers.stall)} <= ${STALL_FREE_FRACTION}` +
          (workload === 'W1-random-samples' && target !== undefined
            ? ` at the ${fmt(target)} MB/s target`
            : ''),
      )
    }
  }
  if (
    bulk &&
    origin !== undefined &&
    peersAlone !== undefined &&
    matchesOrBeats(metric, peersAlone, origin)
  ) {
    failReasons.push(
      `peers alone match or beat the distant origin: ${describe(peersAlone, metric)} vs ${describe(origin, metric)}`,
    )
  }
  if (!localWinsOverPeers) {
    failReasons.push(
      `peers match or beat local storage: ${describe(peers, metric)} vs ${describe(local, metric)}`,
    )
  }
  if (failReasons.length > 0) {
    verdict.status = 'fails'
    verdict.rule = 'R2'
    verdict.reason = failReasons.join('; ')
    return verdict
  }

  // R3: local wins; is distance the cause?
  const knobs = results.config.knobs
  const options = { routeInflation: routeInflationFromKnobs(knobs) }
  const peerDecomposition = decompose(peers.cell, peers.stats, options)
  const localDecomposition = decompose(local.cell, local.stats, options)
  const gap = explainGap(peerDecomposition, localDecomposition)
  const shares = gap?.shareOfGap ?? peerDecomposition.shares
  verdict.distanceShareOfGap = shares.propagation
  verdict.gapParts = DECOMPOSITION_PARTS.map((part) => ({ part, share: shares[part] }))
    .filter((p) => p.share > 0)
    .sort((a, b) => b.share - a.share)
  const lead = `local storage beats peers: ${describe(local, metric)} vs ${describe(peers, metric)}`
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const basis = gap !== undefined ? 'of the run-time gap' : "of the peers' run time"
  verdict.rule = 'R3'
  if (shares.propagation >= DISTANCE_MAIN_CAUSE_SHARE) {
    verdict.status = 'holds'
    verdict.reason = `${lead}; distance (propagation) explains ${pct(shares.propagation)} ${basis} (>= ${pct(DISTANCE_MAIN_CAUSE_SHARE)})`
  } else {
    const others = verdict.gapParts
      .filter((p) => p.part !== 'propagation')
      .slice(0, 3)
      .map((p) => `${p.part} ${pct(p.share)}`)
      .join(', ')
    verdict.status = 'holds-for-other-reasons'
    verdict.reason = `${lead}; distance (propagation) explains only ${pct(shares.propagation)} ${basis} (< ${pct(DISTANCE_MAIN_CAUSE_SHARE)}); the gap comes from ${others || 'unmodelled time'}`
  }
  return verdict
}

/** One verdict per workload that has at least one cell, in workload order. */
export function computeVerdicts(results: Results): WorkloadVerdict[] {
  return WORKLOADS.filter((w) => results.cells.some((c) => c.workload === w)).map((w) =>
    workloadVerdict(results, w),
  )
}
