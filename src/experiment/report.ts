/**
 * writeReport(): validates a results object and writes results.json, charts/*.svg and report.md.
 * Every conclusion in report.md comes from verdict.ts; this file only lays the numbers out.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../util/format.ts'
import { type RenderedChart, renderCharts } from './charts.ts'
import {
  DECOMPOSITION_PARTS,
  decompose,
  FIBRE_PROPAGATION_US_PER_KM,
  PART_SOURCE,
  routeInflationFromKnobs,
} from './decompose.ts'
import { FIDELITY_MIN_ACHIEVED } from './fidelity.ts'
import { churnSection } from './report-churn.ts'
import { costSection } from './report-cost.ts'
import { crossCheckSection } from './report-crosscheck.ts'
import { demandSection } from './report-demand.ts'
import {
  CHARTS_DIR,
  chartLink,
  fidelityText,
  interval,
  medianRange,
  num,
  pct,
  table,
  where,
} from './report-format.ts'
import { atRest, cellMedian } from './report-groups.ts'
import { liveMeasuredSection, liveMethodSection, providersSection } from './report-live.ts'
import { loadSection } from './report-load.ts'
import { schedulingSection } from './report-scheduling.ts'
import { type CellStats, cellStats } from './stats.ts'
import { type Cell, LOCAL_PLACEMENTS, parseResults, type Results, WORKLOADS } from './types.ts'
import { computeVerdicts, VERDICT_RULES, type WorkloadVerdict } from './verdict.ts'

export { CHARTS_DIR } from './report-format.ts'
export const REPORT_FILE = 'report.md'
export const RESULTS_FILE = 'results.json'

export interface ReportOutput {
  resultsPath: string
  reportPath: string
  chartPaths: string[]
  verdicts: WorkloadVerdict[]
}

export async function writeReport(input: Results, outDir: string): Promise<ReportOutput> {
  const results = parseResults(input)
  const verdicts = computeVerdicts(results)
  const charts = await renderCharts(results)
  await mkdir(join(outDir, CHARTS_DIR), { recursive: true })
  const resultsPath = join(outDir, RESULTS_FILE)
  await writeFile(resultsPath, `${JSON.stringify(results, null, 2)}\n`)
  const chartPaths: string[] = []
  for (const c of charts) {
    const path = join(outDir, CHARTS_DIR, c.file)
    await writeFile(path, c.svg)
    chartPaths.push(path)
  }
  const reportPath = join(outDir, REPORT_FILE)
  await writeFile(reportPath, renderReportMarkdown(results, verdicts, charts))
  return { resultsPath, reportPath, chartPaths, verdicts }
}

// ---------- sections ----------

function shareText(v: WorkloadVerdict): string {
  const sh = v.mechanism.share
  if (v.mechanism.status === 'not-applicable') return '-'
  return sh === undefined
    ? v.mechanism.status
    : `${v.mechanism.status}: ${pct(sh.value)} [${pct(sh.low)}, ${pct(sh.high)}]`
}

function summarySection(verdicts: readonly WorkloadVerdict[], calibrationPassed: boolean): string {
  const rows = verdicts.map((v) => [
    v.workload,
    `**${v.status}**`,
    v.outcome.comparison !== undefined
      ? `${v.outcome.status}: ${interval(v.outcome.comparison.ratio)}`
      : v.outcome.status,
    shareText(v),
    v.peersVsOrigin !== undefined
      ? `${v.peersVsOrigin.status}${v.peersVsOrigin.comparison ? `: ${interval(v.peersVsOrigin.comparison.ratio)}` : ''}`
      : '-',
    calibrationPassed && v.winner && v.runnerUp
      ? `${kindOf(v.winner.cell)} over ${kindOf(v.runnerUp.cell)}, ${v.metric.name} ${interval(v.ratio)} (${v.confidence ?? '-'})`
      : '-',
    v.rule,
  ])
  return [
    '## Summary verdict',
    '',
    'The claim under test, in two parts: an outcome (shared bandwidth is slower than local storage for AI data ' +
      'loading) and a mechanism (because the distance to the data adds latency). Each is decided per workload from ' +
      'fixed comparisons and 95% intervals by the rules in "Verdict per workload": outcome = local storage\'s ' +
      'advantage over peers at the claim distance; mechanism = the share of that gap that moving the same peers from ' +
      'near to the claim distance adds. A status whose deciding cells this machine limits is inconclusive.',
    '',
    rows.length > 0
      ? table(
          [
            'workload',
            'claim status',
            "outcome: local's advantage over peers",
            "mechanism: distance's share of the gap",
            "peers vs origin: peers' advantage",
            'best kind of source over the next',
            'rule',
          ],
          rows,
        )
      : '_No cells in these results._',
  ].join('\n')
}

function kindOf(cell: Cell): string {
  if (cell.role === 'local' || LOCAL_PLACEMENTS.includes(cell.placement)) return 'local storage'
  if (cell.role === 'origin' || cell.placement === 'P3-origin') return 'origin'
  return `${cell.k ?? 1} peer${(cell.k ?? 1) === 1 ? '' : 's'}`
}

function calibrationSection(results: Results): string {
  const c = results.calibration
  const out = ['## Calibration', '']
  if (!c.passed) {
    out.push(
      '> **CALIBRATION FAILED. The link emulator does not reproduce the configured delays and rates, so every',
      '> number below is untrustworthy. This report REFUSES to draw conclusions: every verdict is "inconclusive".**',
      `> Reason: ${c.notes || 'no notes recorded'}`,
      '',
    )
  } else {
    out.push(`Calibration passed. ${c.notes}`.trim(), '')
  }
  if (c.zeroDelayOverheadRatio !== undefined) {
    out.push(
      `Zero-delay overhead: throughput with the emulator at zero delay / without it = **${num(c.zeroDelayOverheadRatio)}** ` +
        '(1 = the emulator costs nothing).',
      '',
    )
  }
  if (c.machineMBps !== undefined) {
    out.push(
      `This machine's ceiling for chunk traffic between two nodes in one process, no emulator: ${num(c.machineMBps)} MB/s. ` +
        'Automatic dilation starts each cell where its configured capacity is well inside this figure.',
      '',
    )
  }
  if (c.rate.length > 0) {
    out.push(
      table(
        [
          'rate Mbit/s',
          'RTT ms',
          'dilation K',
          'measured rate Mbit/s',
          'rate error',
          'measured RTT ms',
          'RTT error',
        ],
        c.rate.map((r) => {
          const rtt = c.rtt.find(
            (x) =>
              r.rttMs !== undefined && Math.abs(x.configuredMs - r.rttMs) < 1e-9 && x.dilation === r.dilation,
          )
          return [
            num(r.configuredMbps),
            r.rttMs !== undefined ? num(r.rttMs) : 'n/a',
            String(r.dilation ?? 1),
            num(r.measuredMbps),
            r.configuredMbps > 0 ? pct(r.measuredMbps / r.configuredMbps - 1) : 'n/a',
            rtt !== undefined ? num(rtt.measuredMs) : 'n/a',
            rtt !== undefined && rtt.configuredMs > 0 ? pct(rtt.measuredMs / rtt.configuredMs - 1) : 'n/a',
          ]
        }),
      ),
    )
  }
  return out.join('\n').trimEnd()
}

function methodSection(results: Results): string {
  const inflation = routeInflationFromKnobs(results.config.knobs)
  const knobs = Object.entries(results.config.knobs).map(([k, v]) => [
    k,
    Array.isArray(v) ? v.join(', ') : String(v),
  ])
  return [
    '## Method',
    '',
    `Mode **${results.config.mode}**, seed ${results.config.seed}, ${results.config.repetitions} repetitions per deciding cell ` +
      `(${String(results.config.knobs['supplementaryRepetitions'] ?? results.config.repetitions)} per supplementary cell), ` +
      `started ${results.startedAt}. Real bwnode nodes exchange chunks over libp2p (TCP, noise, yamux) on 127.0.0.1; ` +
      'a user-space link emulator adds the modelled delay and rate cap per link. All nodes of a cell share one process ' +
      'on this machine.',
    '',
    '**Time dilation** (Gupta et al., NSDI 2006). A cell at dilation K runs every emulated rate K times slower and ' +
      'every delay K times longer (the consumer target and timeouts with them), so bandwidth-delay products, windows ' +
      'and chunk sizes keep their size while the CPU has K times more time per byte; every figure is converted back ' +
      'to undilated time. With `auto`, a cell starts at the smallest power of two that keeps its configured capacity ' +
      "well inside this machine's measured ceiling and doubles K while its first run is machine-bound, unless the " +
      'result moved less than 5% from the one at K/2 (twice the time per byte changed nothing: the machine is not ' +
      'the limit, the run is labelled protocol-bound and K kept); a dilated cell is rerun at 2K and its primary ' +
      'metric must move less than 5%.',
    '',
    "**Fidelity guard.** Every run records event-loop utilisation, CPU time, the emulator's release lateness " +
      '(p50/p99) and catch-up, and its time against what the configured links allow (a chunk-granular earliest-finish ' +
      'schedule over the sources, each at min(rate, in flight x chunk / RTT), first bytes one RTT in; a paced consumer ' +
      `at its target). Labels: link-bound, consumer-paced or window-bound when the run reached ${FIDELITY_MIN_ACHIEVED} ` +
      'of that bound; machine-bound when it did not and this machine was saturated (event loop >= 90%, CPU >= 90% of ' +
      'the cores, or emulator releases late by more than max(1 ms, 10% of the RTT) at p99), or when it was faster ' +
      'than the links allow; protocol-bound when it did not while the machine had room. Local storage measures this ' +
      'machine by definition (label local).',
    '',
    `**Steady state.** A sequential read moves at least ${String(results.config.knobs['steadyStateBdps'] ?? 20)} ` +
      `bandwidth-delay products of its sources (${String(results.config.knobs['minSequentialMiB'] ?? 32)} MiB at ` +
      'least); W4 stages the whole shards dataset; W3 streams for a fixed time. Start-up (time to first byte, time ' +
      'to the first whole chunk) is reported apart from steady-state throughput ' +
      `(${String(results.config.knobs['steadyRate'] ?? 'bytes after the first whole chunk over the time after it')}) ` +
      'and stall fraction.',
    '',
    '**Placements.** P0 local storage (the same bytes read from local disk, cold and warm page cache); P1 a peer in ' +
      'the same datacentre; P2 k residential peers (k = 1, 4, 16) at 1 / 10 / 100 / 1000 km; P3 a distant origin ' +
      '(50-150 ms RTT, 1 Gbit/s); P4 the origin plus peers.',
    '',
    '**Workloads.** W1 training-like random reads of ~115 KB samples at a target consumption rate (epoch time, stall ' +
      'fraction); W2 sequential reads of large shards (throughput); W3 a low-rate token stream (stall fraction, TTFB); ' +
      'W4 staging a whole dataset to a node (time to stage).',
    '',
    '**Metrics.** Throughput, time to first byte, chunk latency p50/p95/p99 read from the histogram merged over all runs ' +
      '(never an average of per-run percentiles), epoch time, stall fraction (share of time the consumer waits), bytes ' +
      'taken off the origin. Each cell is repeated; tables show median [min-max]. Ratios carry a seeded 95% bootstrap ' +
      'interval of the ratio of medians.',
    '',
    "**Knobs.** Little's law: requests in flight needed = throughput x RTT / chunk size.",
    '',
    knobs.length > 0 ? table(['knob', 'value'], knobs) : '_No knobs recorded._',
    '',
    '**Model figures** (public sources, as collected in the project brief):',
    '',
    table(
      ['quantity', 'figure', 'source'],
      [
        [
          'propagation in fibre',
          `${FIBRE_PROPAGATION_US_PER_KM} us per km one way (refractive index ~1.47); route inflation ${inflation}x used here (real routes 1.3x-2.1x)`,
          'physics of silica fibre',
        ],
        ['residential access latency', 'median ~8-16 ms, once per end', 'Ookla Speedtest, US ISPs, 2023'],
        ['residential upload', 'median ~20-27 Mbit/s (cable 10-30, fibre 100+)', 'Ookla Speedtest medians'],
        ['latency under load', 'often +50-100 ms', 'M-Lab (NDT) bufferbloat measurements'],
        ['same-datacentre RTT', '~0.5 ms; 10-100 Gbit/s', 'cloud provider network figures'],
        ['object storage small GET', 'tens of ms TTFB', 'object storage first-byte latency'],
        [
          'local NVMe',
          '~3 GiB/s at 1 MiB reads, ~1 ms; page cache several times faster',
          'NVMe SSD datasheets',
        ],
        [
          'GPU input demand, image training',
          'ResNet-50 ~2,470 img/s per A100 at ~115 KB/img = ~285 MB/s per GPU (~85 median home uplinks)',
          'MLPerf / NVIDIA A100 training throughput; ImageNet mean image size',
        ],
        [
          'GPU input demand, LLM training',
          '~3,000 tokens/s per GPU = ~12 KB/s',
          'LLM training throughput reports',
        ],
        [
          'yamux stream window (js)',
          '256 KiB initial, grows to 16 MiB; per-stream cap = window / RTT',
          'js yamux',
        ],
        ['IPFS DHT lookup', '~0.6 s mean walk, ~1.7 hops to first provider', 'IPFS public DHT measurements'],
      ],
    ),
  ].join('\n')
}

function statsRow(cell: Cell, s: CellStats): string[] {
  const lat = s.latency
  return [
    cell.id + (cell.role !== undefined ? ` (${cell.role})` : ''),
    cell.placement,
    where(cell),
    String(cell.inFlight),
    formatBytes(cell.chunkSizeBytes),
    cell.error !== undefined ? `failed: ${cell.error}` : String(s.runs),
    medianRange(s.throughputMBps),
    num(cellMedian(cell, (r) => r.steadyMBps)),
    medianRange(s.ttfbMs),
    num(cellMedian(cell, (r) => r.firstChunkMs)),
    medianRange(s.epochSeconds),
    medianRange(s.stallFraction),
    lat ? `${num(lat.p50Ms)} / ${num(lat.p95Ms)} / ${num(lat.p99Ms)}` : 'n/a',
    fidelityText(cell),
  ]
}

function fidelitySection(results: Results): string {
  const rows = results.cells
    .filter((c) => c.runs.length > 0)
    .map((c) => {
      const fs = c.runs.map((r) => r.fidelity).filter((f) => f !== undefined)
      const worst = (pick: (f: (typeof fs)[number]) => number) =>
        fs.length === 0 ? undefined : Math.max(...fs.map(pick))
      const achieved = fs
        .map((f) => f.achieved)
        .filter((a): a is number => a !== undefined)
        .sort((a, b) => a - b)
      return [
        c.id,
        fidelityText(c),
        c.dilation?.rejected.length ? c.dilation.rejected.join(', ') : '-',
        achieved.length > 0 ? num(achieved[Math.floor(achieved.length / 2)]) : 'n/a',
        pct(worst((f) => f.eventLoopUtilisation)),
        num(worst((f) => f.cpuCores)),
        num(worst((f) => f.latenessP99Ms)),
        num(worst((f) => f.catchUpMs)),
        c.fidelity?.reason ?? '',
      ]
    })
  return [
    '## Fidelity: what limited each cell',
    '',
    'Achieved = what the configured links allow / measured run time (median run). Event loop, CPU (cores), emulator ' +
      'release lateness (p99, undilated ms) and catch-up (undilated ms) are the worst run of the cell. A figure from a ' +
      "machine-bound cell is this machine's, not the network's.",
    '',
    rows.length > 0
      ? table(
          [
            'cell',
            'label',
            'K rejected',
            'achieved',
            'event loop',
            'CPU cores',
            'late p99 ms',
            'catch-up ms',
            'why',
          ],
          rows,
        )
      : '_No runs._',
  ].join('\n')
}

function resultsSection(results: Results, charts: readonly RenderedChart[]): string {
  const out = ['## Results per workload', '']
  const header = [
    'cell',
    'placement',
    'where',
    'in flight',
    'chunk',
    'runs',
    'throughput MB/s',
    'steady MB/s',
    'first byte ms',
    'first chunk ms',
    'epoch s',
    'stall fraction',
    'chunk latency p50 / p95 / p99 ms',
    'fidelity',
  ]
  for (const w of WORKLOADS) {
    const cells = results.cells.filter((c) => c.workload === w)
    if (cells.length === 0) continue
    out.push(`### ${w}`, '')
    const targets = [...new Set(cells.map((c) => c.targetRateMBps).filter((t) => t !== undefined))]
    if (targets.length > 0)
      out.push(`Target consumption rate: ${targets.map((t) => `${num(t)} MB/s`).join(', ')}.`, '')
    out.push(
      table(
        header,
        cells.map((c) => statsRow(c, cellStats(c))),
      ),
      '',
    )
    if (w === 'W1-random-samples') out.push(chartLink(charts, 'w1-epoch-stall.svg'), '')
  }
  out.push(chartLink(charts, 'throughput-vs-distance.svg'))
  return out.join('\n')
}

function decompositionSection(results: Results, charts: readonly RenderedChart[]): string {
  const inflation = routeInflationFromKnobs(results.config.knobs)
  const rows: string[][] = []
  for (const cell of results.cells) {
    if (LOCAL_PLACEMENTS.includes(cell.placement) || cell.runs.length === 0) continue
    const d = decompose(cell, cellStats(cell), { routeInflation: inflation })
    rows.push([
      cell.id,
      cell.workload.slice(0, 2),
      cell.placement,
      where(cell),
      `${num(d.rttMs.unloaded)} (${num(d.rttMs.propagation)} + ${num(d.rttMs.access)})`,
      ...DECOMPOSITION_PARTS.map((p) => `${num(d.partsMs[p])} (${pct(d.shares[p])})`),
      num(d.measuredMs),
    ])
  }
  return [
    '## Latency decomposition',
    '',
    'Where the time of a median run goes, as a timeline that adds up to the run time (shares add up to 100%). ' +
      `Propagation (modelled) = one round trip of fibre, 2 x distance x route inflation x ${FIBRE_PROPAGATION_US_PER_KM} us/km; ` +
      "access (modelled) = one round trip of both ends' last mile; startup (measured) = the rest of the time to " +
      'first byte (protocol, queueing, CPU); transfer (modelled) = the bytes at the binding rate (all serving links, ' +
      'or the consumer target if lower); other (measured) = what is left: time the links and start-up do not explain. ' +
      'The gap between two cells splits the same way, part by part, and also adds up to 100%.',
    '',
    rows.length > 0
      ? table(
          [
            'cell',
            'workload',
            'placement',
            'where',
            'unloaded RTT ms (propagation + access)',
            ...DECOMPOSITION_PARTS.map((p) => `${p} ms, ${PART_SOURCE[p]} (share)`),
            'run time ms',
          ],
          rows,
        )
      : '_No non-local cells to decompose._',
    '',
    chartLink(charts, 'latency-decomposition.svg'),
  ].join('\n')
}

function kScalingSection(results: Results, charts: readonly RenderedChart[]): string {
  const cells = results.cells
    .filter(
      (c) =>
        c.placement === 'P2-residential-peers' &&
        c.k !== undefined &&
        c.load === undefined &&
        c.runs.length > 0,
    )
    .sort(
      (a, b) =>
        a.workload.localeCompare(b.workload) || (a.distanceKm ?? 0) - (b.distanceKm ?? 0) || a.k! - b.k!,
    )
  const rows = cells.map((c) => {
    const s = cellStats(c)
    return [
      c.workload,
      c.distanceKm !== undefined ? num(c.distanceKm) : '-',
      String(c.k),
      medianRange(s.throughputMBps),
      medianRange(s.seconds),
    ]
  })
  return [
    '## k-peer scaling',
    '',
    rows.length > 0
      ? table(['workload', 'distance km', 'k', 'throughput MB/s', 'run time s'], rows)
      : '_No residential-peer cells with k recorded._',
    '',
    chartLink(charts, 'k-peer-scaling.svg'),
  ].join('\n')
}

function peersVsOriginSection(results: Results, charts: readonly RenderedChart[]): string {
  const cells = results.cells.filter(
    (c) =>
      (c.placement === 'P3-origin' ||
        c.placement === 'P4-origin-plus-peers' ||
        c.placement === 'P2-residential-peers') &&
      atRest(c) &&
      c.runs.length > 0,
  )
  const rows = cells.map((c) => {
    const s = cellStats(c)
    return [
      c.id,
      c.workload,
      c.placement,
      where(c),
      medianRange(s.throughputMBps),
      formatBytes(s.originBytes),
      formatBytes(s.peerBytes),
      pct(s.offOriginFraction),
    ]
  })
  return [
    '## Peers vs origin',
    '',
    'Bytes taken off the origin = bytes peers served / all bytes delivered, summed over runs.',
    '',
    rows.length > 0
      ? table(
          [
            'cell',
            'workload',
            'placement',
            'where',
            'throughput MB/s',
            'from origin',
            'from peers',
            'off the origin',
          ],
          rows,
        )
      : '_No origin or peer cells._',
    '',
    chartLink(charts, 'peers-vs-origin.svg'),
  ].join('\n')
}

function verdictSection(verdicts: readonly WorkloadVerdict[]): string {
  const out = [
    '## Verdict per workload',
    '',
    'Decision rules (applied in order; implemented in src/experiment/verdict.ts):',
    '',
  ]
  for (const r of VERDICT_RULES) out.push(`- ${r}`)
  out.push('')
  for (const v of verdicts) {
    out.push(`### ${v.workload}: ${v.status}`, '', `- Rule ${v.rule}: ${v.reason}`)
    const deciding = Object.entries(v.deciding)
      .map(([role, s]) => `${role} = ${s.cell.id} (${fidelityText(s.cell)})`)
      .join('; ')
    if (deciding) out.push(`- Deciding cells: ${deciding}`)
    out.push(`- Outcome (${v.metric.name}): ${v.outcome.status}. ${v.outcome.reason}`)
    if (v.mechanism.status !== 'not-applicable')
      out.push(`- Mechanism: ${v.mechanism.status}. ${v.mechanism.reason}`)
    if (v.peersVsOrigin) out.push(`- Peers vs origin: ${v.peersVsOrigin.status}. ${v.peersVsOrigin.reason}`)
    if (v.status !== 'inconclusive' || v.rule !== 'R0') {
      if (v.winner && v.runnerUp) {
        out.push(
          `- Best kind of source: ${kindOf(v.winner.cell)} (${v.winner.cell.id}, ${v.metric.name} ${num(v.winner.value)} ${v.metric.unit}) ` +
            `over ${kindOf(v.runnerUp.cell)} (${v.runnerUp.cell.id}, ${num(v.runnerUp.value)} ${v.metric.unit}): ` +
            `${interval(v.ratio)}, confidence ${v.confidence ?? 'n/a'}`,
        )
      }
      for (const c of v.comparisons) {
        out.push(
          `- ${c.label}: ${c.first.cell.id}'s advantage over ${c.second.cell.id} ${interval(c.ratio)} (${c.direction})`,
        )
      }
      if (v.gapParts && v.gapParts.length > 0) {
        out.push(
          `- The local-vs-network gap by part (adds up to 100%): ${v.gapParts.map((p) => `${p.part} (${PART_SOURCE[p.part]}) ${pct(p.share)}`).join(', ')}`,
        )
      }
    }
    out.push('')
  }
  return out.join('\n').trimEnd()
}

function machineSection(results: Results): string {
  const m = results.machine
  return [
    '## Machine and versions',
    '',
    table(
      ['item', 'value'],
      [
        ['cpus', String(m.cpus)],
        ['memory', `${num(m.memGiB)} GiB`],
        ['platform', m.platform],
        ['node', m.node],
        ...Object.entries(results.versions).map(([k, v]) => [k, v]),
      ],
    ),
  ].join('\n')
}

export function renderReportMarkdown(
  results: Results,
  verdicts: readonly WorkloadVerdict[],
  charts: readonly RenderedChart[],
): string {
  if (results.config.mode === 'live') {
    // A live run has no emulator to calibrate, no distances, no origin and no lab groups.
    return `${[
      '# bwnode: shared bandwidth vs local storage, measured on a real network',
      summarySection(verdicts, results.calibration.passed),
      liveMeasuredSection(results),
      providersSection(results),
      liveMethodSection(results),
      resultsSection(results, charts),
      fidelitySection(results),
      decompositionSection(results, charts),
      costSection(results, charts),
      verdictSection(verdicts),
      machineSection(results),
    ].join('\n\n')}\n`
  }
  return `${[
    '# bwnode: shared bandwidth vs local storage, measured',
    summarySection(verdicts, results.calibration.passed),
    calibrationSection(results),
    methodSection(results),
    resultsSection(results, charts),
    fidelitySection(results),
    decompositionSection(results, charts),
    kScalingSection(results, charts),
    peersVsOriginSection(results, charts),
    loadSection(results, charts),
    churnSection(results, charts),
    schedulingSection(results, charts),
    demandSection(results, charts),
    costSection(results, charts),
    crossCheckSection(results, charts),
    verdictSection(verdicts),
    machineSection(results),
  ].join('\n\n')}\n`
}
