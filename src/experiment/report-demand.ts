/**
 * The report's "Demand at GPU scale" section and its chart: the swarm model of demand-model.ts
 * fitted to the run's k-peer cells, checked against every other supply-bound cell, then asked how
 * many home peers one A100 training ResNet-50 (~285 MB/s) and one GPU training an LLM (~12 KB/s of
 * tokens) need, idle and under the run's measured load, with churn at the published session lengths.
 */
import type { TopLevelSpec } from 'vega-lite'
import { median } from '../util/stats.ts'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { groupOf } from './combine.ts'
import {
  checkModel,
  fitCpuModel,
  fitSwarmModel,
  type ModelCheck,
  modelSeconds,
  peersForDemand,
  peersForRate,
  type SwarmModel,
  type SwarmPoint,
  stallFraction,
  worstError,
} from './demand-model.ts'
import { chartLink, num, pct, table, where } from './report-format.ts'
import { atRest } from './report-groups.ts'
import { conditionOf, loadComparisons } from './report-load.ts'
import { measuredReplacementSeconds } from './report-scheduling.ts'
import { sessionWeibull, W1_TARGET_BYTES_PER_SEC } from './scenarios.ts'
import type { Cell, Results } from './types.ts'

export const DEMAND_CHART_FILE = 'demand-model.svg'

/** CLAIM.md: ~3,000 tokens/s per GPU training an LLM, ~12 KB/s. */
export const LLM_TOKENS_BYTES_PER_SEC = 12_000
/** The model is accepted where it is within this share of every measured point. */
export const MODEL_TOLERANCE = 0.1
/** Stall the answers aim at: the consumer waits at most this share of the time. */
export const TARGET_STALL = 0.01
/**
 * Time from a home peer leaving until another serves in its place, when the results do not time
 * it: the departure shows at once (the connection resets), then a DHT provider lookup and a dial;
 * taken as two of kad-dht's 15 s discovery rounds, the slow end of what a lookup costs.
 */
export const ASSUMED_REPLACEMENT_SECONDS = 30

/** The replacement time the answers use: measured by the scheduling cells where the run has them. */
export function replacementOf(results: Results): { seconds: number; basis: string } {
  const measured = measuredReplacementSeconds(results)
  return measured === undefined
    ? {
        seconds: ASSUMED_REPLACEMENT_SECONDS,
        basis:
          'an assumption: a departure shows at once, then a DHT lookup and a dial; these results do not time them',
      }
    : {
        seconds: measured,
        basis:
          'measured: the scheduling W3 cell\'s first byte from a provider found on the DHT (lookup, dial, first chunk; see "Scheduling")',
      }
}

/** A residential cell of the run's own matrix (not a cell of a load or churn group run beside it). */
const isK = (c: Cell): boolean =>
  c.placement === 'P2-residential-peers' && c.k !== undefined && c.runs.length > 0 && groupOf(c) === undefined

function pointOf(cell: Cell): SwarmPoint {
  return {
    k: cell.k ?? 1,
    bytes: median(cell.runs.map((r) => r.bytes)),
    uplinkBytesPerSec: (cell.model.rateMbps * 1e6) / 8,
    seconds: median(cell.runs.map((r) => r.seconds)),
  }
}

/** The cells the model is fitted to: W2 from k = 1, 4, 16 peers at the deciding distance, links at rest. */
export function fitCells(results: Results): Cell[] {
  const distance = Number(results.config.knobs['decidingDistanceKm'] ?? 100)
  const inFlight = Number(results.config.knobs['inFlight'] ?? 16)
  return results.cells
    .filter(
      (c) =>
        isK(c) &&
        atRest(c) &&
        c.workload === 'W2-sequential-shards' &&
        c.distanceKm === distance &&
        c.inFlight === inFlight,
    )
    .sort((a, b) => (a.k ?? 0) - (b.k ?? 0))
}

/** Every other residential cell at rest whose supply, not its consumer, set the pace. */
export function checkCells(results: Results, fitted: readonly Cell[]): Cell[] {
  return results.cells.filter(
    (c) =>
      isK(c) &&
      atRest(c) &&
      !fitted.includes(c) &&
      c.workload !== 'W3-token-stream' &&
      c.fidelity?.label !== 'consumer-paced' &&
      (c.targetRateMBps === undefined || c.targetRateMBps * 1e6 > pointOf(c).uplinkBytesPerSec * (c.k ?? 1)),
  )
}

/** Measured load / idle throughput of W1 per condition (the share of the uplinks a peer keeps). */
export function loadFactors(results: Results): { condition: string; factor: number; cell: Cell }[] {
  const out: { condition: string; factor: number; cell: Cell }[] = []
  for (const { baseline, members } of loadComparisons(results)) {
    if (baseline.workload !== 'W1-random-samples') continue
    const idle = median(baseline.runs.map((r) => r.throughputMBps))
    for (const m of members)
      out.push({
        condition: conditionOf(m),
        factor: median(m.runs.map((r) => r.throughputMBps)) / idle,
        cell: m,
      })
  }
  return out
}

/** Median CPU-seconds per GB over a cell's runs: the whole process (every node and the emulator). */
export function cpuSecondsPerGB(cell: Cell): number | undefined {
  const values = cell.runs.flatMap((r) =>
    r.fidelity === undefined || r.bytes <= 0
      ? []
      : [(r.fidelity.cpuCores * r.seconds * r.fidelity.dilation) / (r.bytes / 1e9)],
  )
  return values.length === 0 ? undefined : median(values)
}

export interface DemandAnalysis {
  model: SwarmModel
  fitted: { cell: Cell; check: ModelCheck }[]
  checked: { cell: Cell; check: ModelCheck }[]
  /** The same configurations measured at rest in the group runs combined with this one (other sessions). */
  otherRuns: { cell: Cell; check: ModelCheck }[]
  stallChecks: { cell: Cell; measured: number; model: number }[]
  cpu: { coresAtRest: number; cpuSecondsPerGB: number } | undefined
  load: { condition: string; factor: number }[]
}

export function analyseDemand(results: Results): DemandAnalysis | undefined {
  const fitted = fitCells(results)
  if (new Set(fitted.map((c) => c.k)).size < 2) return undefined
  const points = fitted.map(pointOf)
  const model = fitSwarmModel(points)
  const checks = checkCells(results, fitted)
  const checkOf = (cell: Cell) => ({ cell, check: checkModel(model, [pointOf(cell)])[0]! })
  const checked = checks.map(checkOf)
  const otherRuns = results.cells
    .filter(
      (c) =>
        groupOf(c) !== undefined &&
        atRest(c) &&
        c.placement === 'P2-residential-peers' &&
        c.k !== undefined &&
        c.runs.length > 0 &&
        c.workload !== 'W3-token-stream',
    )
    .map(checkOf)
  const stallChecks = results.cells
    .filter(
      (c) => isK(c) && atRest(c) && c.workload === 'W1-random-samples' && c.targetRateMBps !== undefined,
    )
    .flatMap((cell) => {
      const measured = cell.runs.map((r) => r.stallFraction).filter((v): v is number => v !== undefined)
      if (measured.length === 0) return []
      const p = pointOf(cell)
      const supply = p.bytes / modelSeconds(model, p.k, p.bytes, p.uplinkBytesPerSec)
      return [
        { cell, measured: median(measured), model: Math.max(0, 1 - supply / (cell.targetRateMBps! * 1e6)) },
      ]
    })
  const cpuRuns = results.cells
    .filter((c) => c.placement !== 'P0-local-cold' && c.placement !== 'P0-local-warm' && atRest(c))
    .flatMap((c) => c.runs)
    .flatMap((r) =>
      r.fidelity === undefined
        ? []
        : [
            {
              cpuSeconds: r.fidelity.cpuCores * r.seconds * r.fidelity.dilation,
              wallSeconds: r.seconds * r.fidelity.dilation,
              bytes: r.bytes,
            },
          ],
    )
  let cpu: DemandAnalysis['cpu']
  try {
    cpu = cpuRuns.length >= 2 ? fitCpuModel(cpuRuns) : undefined
  } catch {
    cpu = undefined
  }
  return {
    model,
    fitted: fitted.map((cell, i) => ({ cell, check: checkModel(model, [points[i]!])[0]! })),
    checked,
    otherRuns,
    stallChecks,
    cpu,
    load: [{ condition: 'idle', factor: 1 }, ...loadFactors(results)],
  }
}

interface Consumer {
  name: string
  bytesPerSec: number
  bufferBytes: number
}

function consumers(results: Results): Consumer[] {
  const knob = (name: string, fallback: number) => Number(results.config.knobs[name] ?? fallback)
  const chunk = knob('chunkSizeBytes', 1024 * 1024)
  return [
    {
      name: 'image training, one A100 (ResNet-50)',
      bytesPerSec: W1_TARGET_BYTES_PER_SEC,
      bufferBytes: knob('w1PrefetchDepth', 64) * chunk,
    },
    {
      name: 'LLM training, one GPU (tokens)',
      bytesPerSec: LLM_TOKENS_BYTES_PER_SEC,
      bufferBytes: knob('w3PrefetchDepth', 4) * knob('w3ChunkBytes', 64 * 1024),
    },
  ]
}

const mbps = (bytesPerSec: number) => num(bytesPerSec / 1e6)

export function demandSection(results: Results, charts: readonly RenderedChart[]): string {
  const out = [
    '## Demand at GPU scale',
    '',
    'How many home peers a GPU needs, from a model fitted to this run. Delivery: k peers with uplink R move S bytes in ' +
      'T = t0 + S / (k R eta): t0 is the start-up a run pays once (first request, first chunk), eta the share of the uplinks ' +
      'delivered. t0 and eta come from a least-squares line through the W2 cells with k = 1, 4, 16 at the deciding distance; ' +
      `every other supply-bound residential cell checks the model out of sample. The model is accepted within ${pct(MODEL_TOLERANCE)} ` +
      'of every measured point.',
    '',
  ]
  const analysis = analyseDemand(results)
  if (analysis === undefined) {
    out.push('_Fewer than two k-peer W2 cells at the deciding distance in these results: no model fitted._')
    return out.join('\n')
  }
  const { model } = analysis
  const all = allChecks(analysis)
  const worst = worstError(all)
  const rows = [
    ...analysis.fitted.map(({ cell, check }) => ['fit', cell, check] as const),
    ...analysis.checked.map(({ cell, check }) => ['check', cell, check] as const),
  ].map(([use, cell, c]) => [
    use,
    `${cell.workload} ${where(cell)}`,
    String(c.point.k),
    mbps(c.measuredBytesPerSec),
    mbps(c.modelBytesPerSec),
    `${c.error >= 0 ? '+' : ''}${pct(c.error)}`,
    num(cpuSecondsPerGB(cell)),
  ])
  out.push(
    `Fitted: eta = **${model.efficiency.toFixed(3)}**, t0 = **${num(model.startupSeconds * 1000)} ms**. ` +
      `Worst error over the ${all.length} measured points: **${pct(worst)}** ` +
      (worst <= MODEL_TOLERANCE
        ? `(within ${pct(MODEL_TOLERANCE)}: accepted).`
        : `(above ${pct(MODEL_TOLERANCE)}: the model is not accepted, and the answers below are not drawn from it).`),
    '',
    table(
      ['use', 'cell', 'k', 'measured MB/s', 'model MB/s', 'error', 'CPU-s per GB (this machine, every node)'],
      rows,
    ),
    "CPU per GB is the median over the cell's runs of the process's CPU time (all of the cell's nodes, both ends and the " +
      'emulator, on this 2-core machine) over the bytes moved: a figure about this machine, not the network.',
    '',
    '',
  )
  if (analysis.otherRuns.length > 0) {
    const spread = worstError(analysis.otherRuns.map((c) => c.check))
    out.push(
      `Beside them, the same configurations at rest in the group runs combined into this report, measured in other sessions on this machine: ` +
        analysis.otherRuns
          .map(
            ({ cell, check }) =>
              `${cell.workload} ${where(cell)} ${mbps(check.measuredBytesPerSec)} MB/s (${check.error >= 0 ? '+' : ''}${pct(check.error)})`,
          )
          .join('; ') +
        `. Up to ${pct(spread)} from the model: the spread between runs on this machine, which the model, fitted to one run, does not carry.`,
      '',
    )
  }
  if (analysis.stallChecks.length > 0) {
    out.push(
      'Stall check: a reader asking for D bytes/s from a supply of s waits 1 - s / D of the time once its prefetch is drained; ' +
        "with the model's supply:",
      '',
      table(
        ['cell', 'target MB/s', 'model stall', 'measured stall', 'difference'],
        analysis.stallChecks.map((s) => [
          `${s.cell.workload} ${where(s.cell)}`,
          num(s.cell.targetRateMBps),
          num(s.model),
          num(s.measured),
          `${s.model - s.measured >= 0 ? '+' : ''}${num((s.model - s.measured) * 100)} points`,
        ]),
      ),
      '',
    )
  }
  const session = sessionWeibull()
  const replacement = replacementOf(results)
  out.push(
    `Churn: each peer leaves at rate 1 / mean session (${num(session.meanHours)} h, the Weibull of "Churn") and is replaced after ` +
      `${num(replacement.seconds)} s (${replacement.basis}), ` +
      'so the peers missing at a moment are Poisson with mean n x replacement / mean session; with m missing the consumer waits for ' +
      'what n - m peers cannot give, less what its prefetch buffer rides out. Load: a peer keeps the share of its uplink that W1 kept ' +
      'in the "Latency under load" cells (loaded / idle throughput, measured). ' +
      `Answers: the smallest swarm whose expected stall is at most ${pct(TARGET_STALL)}; the stall with no spare is shown beside it.`,
    '',
  )
  if (worst > MODEL_TOLERANCE) return out.join('\n')
  const uplink = (Number(results.config.knobs['residentialUplinkMbps'] ?? 25) * 1e6) / 8
  const answerRows: string[][] = []
  for (const consumer of consumers(results)) {
    for (const { condition, factor } of analysis.load) {
      const perPeer = uplink * model.efficiency * factor
      const inputs = {
        demandBytesPerSec: consumer.bytesPerSec,
        perPeerBytesPerSec: perPeer,
        meanSessionSeconds: session.meanHours * 3600,
        replacementSeconds: replacement.seconds,
        bufferBytes: consumer.bufferBytes,
      }
      const minimum = peersForRate(consumer.bytesPerSec, perPeer)
      const answer = peersForDemand(inputs, TARGET_STALL)
      // the model delivered up to `worst` more than measured: a swarm as slow as the worst check needs this many
      const pessimistic = peersForDemand(
        { ...inputs, perPeerBytesPerSec: perPeer / (1 + worst) },
        TARGET_STALL,
      )
      answerRows.push([
        consumer.name,
        mbps(consumer.bytesPerSec),
        condition === 'idle' ? 'idle uplinks' : `${condition} (keeps ${pct(factor)})`,
        mbps(perPeer),
        String(minimum),
        num(stallFraction(inputs, minimum).stall),
        `${answer.peers} (${answer.spares} spare)`,
        `${answer.peers}-${pessimistic.peers}`,
        num(answer.missingMean),
        analysis.cpu === undefined ? 'n/a' : num((analysis.cpu.cpuSecondsPerGB * consumer.bytesPerSec) / 1e9),
      ])
    }
  }
  const largestK = Math.max(...all.map((c) => c.point.k))
  out.push(
    table(
      [
        'consumer',
        'demand MB/s',
        'peers uplinks',
        'per peer MB/s',
        'peers for the rate',
        'stall fraction with no spare',
        `peers for stall <= ${pct(TARGET_STALL)}`,
        "the same within the model's worst error",
        'missing at a moment (mean)',
        'CPU cores for the bytes (this machine, both ends)',
      ],
      answerRows,
    ),
    '',
    `Where the answers stand: the model is measured up to k = ${largestK}; swarms larger than that are extrapolated from it, and ` +
      "the fetch scheduler, the consumer's connections and its CPU at k = 100 are not measured. " +
      (analysis.cpu === undefined
        ? ''
        : `CPU: a line through every run of the peer and origin cells gives ${num(analysis.cpu.cpuSecondsPerGB)} CPU-s per GB moved ` +
          `plus ${num(analysis.cpu.coresAtRest)} cores at rest, for all of a cell's nodes, both ends of every transfer and the emulator in ` +
          'one process on this machine: the consumer alone pays part of it, so the CPU column is an upper bound set by this machine, ' +
          'not a property of the network (docs/BENCHMARKS.md measures the fetcher apart, in its own process). '),
    '',
    chartLink(charts, DEMAND_CHART_FILE),
  )
  return out.join('\n')
}

const allChecks = (a: DemandAnalysis): ModelCheck[] => [...a.fitted, ...a.checked].map((c) => c.check)

/** Measured throughput per k beside the model's line up to the swarm an A100 needs. */
export function demandChart(results: Results): ChartSpec | undefined {
  const analysis = analyseDemand(results)
  if (analysis === undefined || worstError(allChecks(analysis)) > MODEL_TOLERANCE) return undefined
  const reference = analysis.fitted.at(-1)!.check.point
  const uplink = reference.uplinkBytesPerSec
  const needed = peersForRate(W1_TARGET_BYTES_PER_SEC, uplink * analysis.model.efficiency)
  const ks: number[] = []
  for (let k = 1; k <= Math.max(128, needed * 1.2); k = Math.ceil(k * 1.25)) ks.push(k)
  const line = ks.map((k) => ({
    k,
    throughput: reference.bytes / modelSeconds(analysis.model, k, reference.bytes, uplink) / 1e6,
    series: 'model (W2 fit)',
  }))
  const measured = allChecks(analysis).map((c) => ({
    k: c.point.k,
    throughput: c.measuredBytesPerSec / 1e6,
    series: 'measured cells',
  }))
  const title = 'Demand at GPU scale: delivered rate vs peers'
  return {
    file: DEMAND_CHART_FILE,
    title,
    spec: {
      title: {
        text: title,
        subtitle: `model beyond k = ${reference.k} is extrapolated; rule: one A100 (285 MB/s)`,
      },
      width: 360,
      height: 220,
      layer: [
        {
          data: { values: line },
          mark: { type: 'line' },
          encoding: {
            x: {
              field: 'k',
              type: 'quantitative',
              scale: { type: 'log', base: 2 },
              title: 'peers serving (k, log)',
            },
            y: {
              field: 'throughput',
              type: 'quantitative',
              scale: { type: 'log' },
              title: 'delivered MB/s (log)',
            },
            color: { field: 'series', type: 'nominal', title: '' },
          },
        },
        {
          data: { values: measured },
          mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x: { field: 'k', type: 'quantitative' },
            y: { field: 'throughput', type: 'quantitative' },
            color: { field: 'series', type: 'nominal' },
          },
        },
        {
          data: { values: [{ demand: W1_TARGET_BYTES_PER_SEC / 1e6 }] },
          mark: { type: 'rule', strokeDash: [4, 4] },
          encoding: { y: { field: 'demand', type: 'quantitative' } },
        },
      ],
    } as unknown as TopLevelSpec,
  }
}
