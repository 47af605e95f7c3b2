/**
 * The report's "Latency under load" section and its chart: the network cells of W1 and W3 with the
 * residential peers' uplinks idle, then carrying a greedy household upload behind a bloated or a
 * managed queue (src/net/uplink-load.ts). Each loaded cell is read against the unloaded one with
 * the same workload, distance and k.
 */
import type { TopLevelSpec } from 'vega-lite'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { chartLink, fidelityText, medianRange, num, pct, table, where } from './report-format.ts'
import { type GroupComparison, groupComparisons, ratioText } from './report-groups.ts'
import { LOAD_TAG } from './scenarios.ts'
import { cellStats } from './stats.ts'
import type { Cell, Results } from './types.ts'

export const LOAD_CHART_FILE = 'latency-under-load.svg'

/** Condition name of a cell: its tag after 'load-', 'none' for the unloaded baseline. */
export function conditionOf(cell: Cell): string {
  if (cell.load === undefined) return 'none'
  return cell.tag?.replace(/^load-/, '') ?? 'loaded'
}

/** The loaded cells of a run grouped with their unloaded baselines (W1 and W3 first). */
export function loadComparisons(results: Results): GroupComparison[] {
  return groupComparisons(results, LOAD_TAG, (c) => c.load !== undefined)
}

function conditionText(cell: Cell): string {
  const load = cell.load
  if (load === undefined) return 'idle uplink'
  const traffic = load.crossTrafficShare > 0 ? `${pct(load.crossTrafficShare)} household` : 'no household'
  return `${traffic} ${load.crossTrafficGreedy ? 'greedy upload' : 'paced traffic'}, ${num(load.bufferMs)} ms queue`
}

export function loadSection(results: Results, charts: readonly RenderedChart[]): string {
  const comparisons = loadComparisons(results)
  const out = [
    '## Latency under load',
    '',
    'A peer that lends its uplink loads it, and a loaded home uplink adds +50-100 ms (bufferbloat, M-Lab; CLAIM.md). ' +
      "In these cells every residential peer's uplink also carries household traffic: a greedy upload (a backup, a photo sync) " +
      'that takes its share of the uplink and keeps the bottleneck buffer full, so every byte a peer sends first waits a standing ' +
      "queue of the buffer's length. Bloated = a drop-tail buffer of the M-Lab size; managed = a router with active queue management " +
      "holding CoDel's 5 ms target (with per-flow queueing, fq_codel or cake, a sparse token stream would skip even that). " +
      'The household share is an assumption of the model (a knob), not a measurement. Ratios are loaded / idle, medians of runs, ' +
      '95% bootstrap intervals.',
    '',
  ]
  if (comparisons.length === 0) {
    out.push('_No latency-under-load cells in these results._')
    return out.join('\n')
  }
  const rows: string[][] = []
  for (const [i, { baseline, members: loaded }] of comparisons.entries()) {
    for (const cell of [baseline, ...loaded]) {
      const s = cellStats(cell)
      const lat = s.latency
      const isBaseline = cell === baseline
      rows.push([
        cell.workload,
        where(cell),
        conditionOf(cell),
        conditionText(cell),
        medianRange(s.ttfbMs),
        isBaseline ? '1' : ratioText(cell, baseline, (r) => r.ttfbMs, results.config.seed + 31 * i),
        lat ? `${num(lat.p50Ms)} / ${num(lat.p99Ms)}` : 'n/a',
        medianRange(s.stallFraction),
        medianRange(s.throughputMBps),
        isBaseline ? '1' : ratioText(cell, baseline, (r) => r.seconds, results.config.seed + 31 * i + 1),
        fidelityText(cell),
      ])
    }
  }
  out.push(
    table(
      [
        'workload',
        'where',
        'condition',
        "peers' uplinks",
        'first byte ms',
        'first byte, loaded / idle',
        'chunk latency p50 / p99 ms',
        'stall fraction',
        'throughput MB/s',
        'run time, loaded / idle',
        'fidelity',
      ],
      rows,
    ),
    '',
    chartLink(charts, LOAD_CHART_FILE),
  )
  return out.join('\n')
}

/** First byte and stall fraction per condition, one bar per cell. */
export function loadChart(results: Results): ChartSpec | undefined {
  const values = loadComparisons(results).flatMap(({ baseline, members: loaded }) =>
    [baseline, ...loaded].map((cell) => {
      const s = cellStats(cell)
      return {
        cell: `${cell.workload.slice(0, 2)} k=${cell.k ?? '-'} ${conditionOf(cell)}`,
        condition: conditionOf(cell),
        ttfb: s.ttfbMs?.median ?? 0,
        stall: s.stallFraction?.median ?? 0,
      }
    }),
  )
  if (values.length === 0) return undefined
  const title = 'Latency under load: residential uplinks idle, bloated, managed'
  const bar = (field: string, axisTitle: string) => ({
    width: 300,
    mark: 'bar',
    encoding: {
      y: { field: 'cell', type: 'nominal', title: 'cell', sort: null },
      x: { field, type: 'quantitative', title: axisTitle },
      color: { field: 'condition', type: 'nominal', title: 'condition' },
    },
  })
  return {
    file: LOAD_CHART_FILE,
    title,
    spec: {
      title: { text: title, subtitle: 'median of runs' },
      data: { values },
      hconcat: [bar('ttfb', 'time to first byte (ms)'), bar('stall', 'stall fraction (0-1)')],
    } as unknown as TopLevelSpec,
  }
}
