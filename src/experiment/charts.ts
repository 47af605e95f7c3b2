/**
 * SVG charts for the report, declared as vega-lite specs, compiled to vega and rendered headless
 * (renderer 'none': SVG needs no canvas). Each chart is skipped when the results hold no data for it.
 */
import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { DECOMPOSITION_PARTS, decompose, routeInflationFromKnobs } from './decompose.ts'
import { churnChart } from './report-churn.ts'
import { costChart } from './report-cost.ts'
import { crossCheckChart } from './report-crosscheck.ts'
import { demandChart } from './report-demand.ts'
import { atRest } from './report-groups.ts'
import { loadChart } from './report-load.ts'
import { schedulingChart } from './report-scheduling.ts'
import { type CellStats, cellStats } from './stats.ts'
import type { Cell, Placement, Results } from './types.ts'

export interface ChartSpec {
  /** File name under charts/, e.g. 'throughput-vs-distance.svg'. */
  file: string
  title: string
  spec: TopLevelSpec
}

export interface RenderedChart {
  file: string
  title: string
  svg: string
}

const CHART_WIDTH_PX = 360
const CHART_HEIGHT_PX = 220

/** Renders one vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const withConfig = { config: CHART_CONFIG, ...spec } as TopLevelSpec
  const view = new View(parse(compile(withConfig).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

interface Row {
  cell: Cell
  stats: CellStats
  label: string
}

const SHORT_PLACEMENT: Record<Placement, string> = {
  'P0-local-cold': 'P0 local cold',
  'P0-local-warm': 'P0 local warm',
  'P1-datacentre-peer': 'P1 DC peer',
  'P2-residential-peers': 'P2 peers',
  'P3-origin': 'P3 origin',
  'P4-origin-plus-peers': 'P4 origin+peers',
}

/** Long enough for "W2 P4 origin+peers 1000 km k=16 [cell id]" without truncation. */
const LABEL_LIMIT_PX = 360
const CHART_CONFIG = { axis: { labelLimit: LABEL_LIMIT_PX }, legend: { labelLimit: LABEL_LIMIT_PX } }

function baseLabel(cell: Cell): string {
  const parts: string[] = [SHORT_PLACEMENT[cell.placement]]
  if (cell.distanceKm !== undefined) parts.push(`${cell.distanceKm} km`)
  if (cell.k !== undefined) parts.push(`k=${cell.k}`)
  return parts.join(' ')
}

/** Labels unique within a chart: the cell id is appended only where two cells would share a label. */
function rowsFor(cells: readonly Cell[]): Row[] {
  const counts = new Map<string, number>()
  for (const c of cells) counts.set(baseLabel(c), (counts.get(baseLabel(c)) ?? 0) + 1)
  return cells
    .filter((c) => c.runs.length > 0)
    .map((cell) => {
      const label = baseLabel(cell)
      return {
        cell,
        stats: cellStats(cell),
        label: (counts.get(label) ?? 0) > 1 ? `${label} [${cell.id}]` : label,
      }
    })
}

function shortWorkload(cell: Cell): string {
  return cell.workload.slice(0, 2)
}

function throughputVsDistance(rows: Row[]): ChartSpec | undefined {
  const values = rows
    .filter((r) => r.cell.distanceKm !== undefined && r.cell.distanceKm > 0 && r.stats.throughputMBps)
    .map((r) => ({
      workload: r.cell.workload,
      distanceKm: r.cell.distanceKm,
      series: r.cell.k !== undefined ? `${r.cell.placement} k=${r.cell.k}` : r.cell.placement,
      throughput: r.stats.throughputMBps!.median,
    }))
  if (values.length === 0) return undefined
  return throughputLines({
    file: 'throughput-vs-distance.svg',
    title: 'Throughput vs distance per placement',
    subtitle: 'median of runs; distance on a log scale',
    values,
    x: { field: 'distanceKm', type: 'quantitative', scale: { type: 'log' }, title: 'distance (km, log)' },
    color: { field: 'series', type: 'nominal', title: 'placement' },
  })
}

/** One line chart of median throughput per workload (a facet each), the shape two charts share. */
function throughputLines(chart: {
  file: string
  title: string
  subtitle: string
  values: Array<Record<string, unknown>>
  x: Record<string, unknown>
  color: Record<string, unknown>
}): ChartSpec {
  return {
    file: chart.file,
    title: chart.title,
    spec: {
      title: { text: chart.title, subtitle: chart.subtitle },
      data: { values: chart.values },
      facet: { column: { field: 'workload', type: 'nominal', title: 'workload' } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: CHART_WIDTH_PX,
        height: CHART_HEIGHT_PX,
        mark: { type: 'line', point: true },
        encoding: {
          x: chart.x,
          y: { field: 'throughput', type: 'quantitative', title: 'throughput (MB/s)' },
          color: chart.color,
        },
      },
    } as TopLevelSpec,
  }
}

function decompositionChart(rows: Row[], routeInflation: number): ChartSpec | undefined {
  const values: Array<{ cell: string; part: string; partIndex: number; ms: number }> = []
  for (const r of rows) {
    if (r.cell.placement === 'P0-local-cold' || r.cell.placement === 'P0-local-warm') continue
    const d = decompose(r.cell, r.stats, { routeInflation })
    if (d.totalMs <= 0) continue
    for (const [partIndex, part] of DECOMPOSITION_PARTS.entries()) {
      values.push({ cell: `${shortWorkload(r.cell)} ${r.label}`, part, partIndex, ms: d.partsMs[part] })
    }
  }
  if (values.length === 0) return undefined
  const title = 'Latency decomposition per placement and distance'
  return {
    file: 'latency-decomposition.svg',
    title,
    spec: {
      title: { text: title, subtitle: 'share of the modelled run time of a median run (see decompose.ts)' },
      data: { values },
      width: CHART_WIDTH_PX + 120,
      mark: 'bar',
      encoding: {
        y: {
          field: 'cell',
          type: 'nominal',
          title: 'cell (workload, placement, distance, peers)',
          sort: null,
        },
        x: {
          field: 'ms',
          type: 'quantitative',
          stack: 'normalize',
          title: 'share of run time (%)',
          axis: { format: '%' },
        },
        color: { field: 'part', type: 'nominal', title: 'part', sort: [...DECOMPOSITION_PARTS] },
        order: { field: 'partIndex', type: 'quantitative' },
        tooltip: [{ field: 'ms', type: 'quantitative', title: 'ms', format: '.3f' }],
      },
    },
  }
}

/** Median bar with a min-max rule, one bar per cell. */
function medianWithRange(field: string, axisTitle: string): Record<string, unknown> {
  return {
    width: CHART_WIDTH_PX,
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'cell', type: 'nominal', title: 'cell', sort: null },
          x: { field: `${field}Median`, type: 'quantitative', title: axisTitle },
        },
      },
      {
        mark: { type: 'rule', color: 'black' },
        encoding: {
          y: { field: 'cell', type: 'nominal', sort: null },
          x: { field: `${field}Min`, type: 'quantitative' },
          x2: { field: `${field}Max` },
        },
      },
    ],
  }
}

function w1Chart(rows: Row[]): ChartSpec | undefined {
  const values = rows
    .filter((r) => r.cell.workload === 'W1-random-samples' && r.stats.epochSeconds !== undefined)
    .map((r) => ({
      cell: r.label,
      epochMedian: r.stats.epochSeconds!.median,
      epochMin: r.stats.epochSeconds!.min,
      epochMax: r.stats.epochSeconds!.max,
      stallMedian: r.stats.stallFraction?.median ?? 0,
      stallMin: r.stats.stallFraction?.min ?? 0,
      stallMax: r.stats.stallFraction?.max ?? 0,
    }))
  if (values.length === 0) return undefined
  const title = 'W1 random samples: epoch time and stall fraction'
  return {
    file: 'w1-epoch-stall.svg',
    title,
    spec: {
      title: { text: title, subtitle: 'bars: median of runs; lines: min to max' },
      data: { values },
      hconcat: [medianWithRange('epoch', 'epoch time (s)'), medianWithRange('stall', 'stall fraction (0-1)')],
    } as unknown as TopLevelSpec,
  }
}

function kScalingChart(rows: Row[]): ChartSpec | undefined {
  const values = rows
    .filter(
      (r) => r.cell.placement === 'P2-residential-peers' && r.cell.k !== undefined && r.stats.throughputMBps,
    )
    .map((r) => ({
      workload: r.cell.workload,
      k: r.cell.k,
      distance: r.cell.distanceKm !== undefined ? `${r.cell.distanceKm} km` : 'n/a',
      throughput: r.stats.throughputMBps!.median,
    }))
  if (values.length === 0) return undefined
  return throughputLines({
    file: 'k-peer-scaling.svg',
    title: 'k-peer scaling of residential peers',
    subtitle: 'median throughput with k = 1, 4, 16 peers serving at once',
    values,
    x: {
      field: 'k',
      type: 'quantitative',
      scale: { type: 'log', base: 2 },
      axis: { values: [1, 2, 4, 8, 16, 32] },
      title: 'peers serving (k, log)',
    },
    color: { field: 'distance', type: 'nominal', title: 'distance' },
  })
}

function peersVsOriginChart(rows: Row[]): ChartSpec | undefined {
  const relevant = rows.filter(
    (r) =>
      (r.cell.workload === 'W2-sequential-shards' || r.cell.workload === 'W4-bulk-staging') &&
      (r.cell.placement === 'P2-residential-peers' ||
        r.cell.placement === 'P3-origin' ||
        r.cell.placement === 'P4-origin-plus-peers') &&
      r.stats.throughputMBps,
  )
  if (!relevant.some((r) => r.cell.placement === 'P3-origin')) return undefined
  const values = relevant.map((r) => ({
    cell: `${shortWorkload(r.cell)} ${r.label}`,
    placement: r.cell.placement,
    throughput: r.stats.throughputMBps!.median,
    offOrigin: r.stats.offOriginFraction,
  }))
  const title = 'Peers vs distant origin (W2, W4)'
  return {
    file: 'peers-vs-origin.svg',
    title,
    spec: {
      title: { text: title, subtitle: 'median throughput, and the share of bytes peers took off the origin' },
      data: { values },
      hconcat: [
        {
          width: CHART_WIDTH_PX,
          mark: 'bar',
          encoding: {
            y: { field: 'cell', type: 'nominal', title: 'cell', sort: null },
            x: { field: 'throughput', type: 'quantitative', title: 'throughput (MB/s)' },
            color: { field: 'placement', type: 'nominal', title: 'placement' },
          },
        },
        {
          width: CHART_WIDTH_PX / 2,
          mark: 'bar',
          encoding: {
            y: { field: 'cell', type: 'nominal', title: null, sort: null },
            x: {
              field: 'offOrigin',
              type: 'quantitative',
              title: 'bytes off the origin (%)',
              axis: { format: '%' },
              scale: { domain: [0, 1] },
            },
            color: { field: 'placement', type: 'nominal', title: 'placement' },
          },
        },
      ],
    },
  }
}

/** The chart specs the results support, in report order. */
export function chartSpecs(results: Results): ChartSpec[] {
  const rows = rowsFor(results.cells)
  // loaded uplinks and churn have their own sections; the others compare links at rest
  const idle = rows.filter((r) => atRest(r.cell))
  const inflation = routeInflationFromKnobs(results.config.knobs)
  return [
    throughputVsDistance(idle),
    decompositionChart(idle, inflation),
    w1Chart(rows),
    kScalingChart(idle),
    peersVsOriginChart(idle),
    loadChart(results),
    churnChart(results),
    schedulingChart(results),
    results.config.mode === 'live' ? undefined : demandChart(results),
    costChart(results),
    crossCheckChart(results),
  ].filter((c): c is ChartSpec => c !== undefined)
}

export async function renderCharts(results: Results): Promise<RenderedChart[]> {
  const out: RenderedChart[] = []
  for (const c of chartSpecs(results))
    out.push({ file: c.file, title: c.title, svg: await renderSvg(c.spec) })
  return out
}
