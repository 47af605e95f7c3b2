/**
 * The report's "Scheduling" section and its chart: what finding and dialling providers costs, as
 * its own share of the latency. The scheduling cells' consumer joined just before each run and finds
 * the providers on the DHT on the clock; each is read against the same cell with the providers known
 * and connected. Rescheduling after a loss comes from the churn cells.
 */
import type { TopLevelSpec } from 'vega-lite'
import { median } from '../util/stats.ts'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { churnComparisons, secondsPerDeparture } from './report-churn.ts'
import { chartLink, fidelityText, medianRange, num, pct, table, where } from './report-format.ts'
import { cellMedian, type GroupComparison, groupComparisons, ratioText, runValues } from './report-groups.ts'
import { SCHEDULING_TAG } from './scenarios.ts'
import { cellStats } from './stats.ts'
import type { Cell, Results, Run } from './types.ts'

export const SCHEDULING_CHART_FILE = 'scheduling.svg'

export function schedulingComparisons(results: Results): GroupComparison[] {
  return groupComparisons(results, SCHEDULING_TAG, (c) => c.discovery !== undefined)
}

/** (found - known) / found of a per-run figure's medians: the share scheduling added. */
export function addedShare(
  member: Cell,
  baseline: Cell,
  pick: (r: Run) => number | undefined,
): number | undefined {
  const found = cellMedian(member, pick)
  const known = cellMedian(baseline, pick)
  if (found === undefined || known === undefined || found <= 0) return undefined
  return (found - known) / found
}

/**
 * How long a replacement provider takes to serve, s: the scheduling W3 cell's first byte (a DHT
 * lookup, a dial and one chunk), or undefined when the results hold no such cell.
 */
export function measuredReplacementSeconds(results: Results): number | undefined {
  const w3 = schedulingComparisons(results).find((c) => c.baseline.workload === 'W3-token-stream')
  const cell = w3?.members[0]
  const ms = cell === undefined ? undefined : cellMedian(cell, (r) => r.ttfbMs)
  return ms === undefined ? undefined : ms / 1000
}

export function schedulingSection(results: Results, charts: readonly RenderedChart[]): string {
  const comparisons = schedulingComparisons(results)
  const out = [
    '## Scheduling',
    '',
    'The claim blames distance and "frequent scheduling". In these cells the consumer is a node that joined the network just ' +
      'before the run through one bootstrap peer (its DHT warmed by a lookup of its own key, as a node that has run a while has it): ' +
      "it finds the cell's providers with a DHT provider lookup and dials them on the clock, then reads as the baseline does. " +
      'The baseline is the same cell with the providers known and connected. W3 looks for the record of its one provider, W4 ' +
      "starts on the first of its sixteen and adds the others as they turn up. The lab's DHT is small (about twenty nodes: the " +
      'consumer, a datacentre peer, an origin and the home peers, each record on the nodes its provider knew when it announced); ' +
      'the public IPFS DHT resolves 80% of retrievals in under 500 ms (ProbeLab, 2026). ' +
      'Rescheduling after a loss is read from the churn cells: the extra time a departure costs while the others take over its requests.',
    '',
  ]
  if (comparisons.length === 0) {
    out.push('_No scheduling cells in these results._', '')
  } else {
    const rows: string[][] = []
    for (const [i, { baseline, members }] of comparisons.entries()) {
      for (const cell of [baseline, ...members]) {
        const s = cellStats(cell)
        const isBaseline = cell === baseline
        const lookup = cellMedian(cell, (r) => r.discovery?.firstProviderMs)
        const lookupAll = cellMedian(cell, (r) => r.discovery?.allProvidersMs)
        const connected = cellMedian(cell, (r) => r.discovery?.connectedMs)
        const firstByteShare = isBaseline ? undefined : addedShare(cell, baseline, (r) => r.ttfbMs)
        const runShare = isBaseline ? undefined : addedShare(cell, baseline, (r) => r.seconds)
        rows.push([
          cell.workload,
          where(cell),
          isBaseline ? 'known, connected' : 'found on the DHT',
          lookup === undefined ? '-' : `${num(lookup)} / ${num(lookupAll)}`,
          connected === undefined ? '-' : num(connected),
          medianRange(s.ttfbMs),
          isBaseline ? '1' : ratioText(cell, baseline, (r) => r.ttfbMs, results.config.seed + 53 * i),
          medianRange(s.seconds),
          isBaseline ? '1' : ratioText(cell, baseline, (r) => r.seconds, results.config.seed + 59 * i),
          firstByteShare === undefined ? '-' : pct(firstByteShare),
          runShare === undefined ? '-' : pct(runShare),
          fidelityText(cell),
        ])
      }
    }
    out.push(
      table(
        [
          'workload',
          'where',
          'providers',
          "lookup ms: first / all of the cell's providers",
          'sessions open ms',
          'first byte ms',
          'first byte, found / known',
          'run time s',
          'run time, found / known',
          "scheduling's share of the first byte",
          'of the run time',
          'fidelity',
        ],
        rows,
      ),
      '',
    )
    const joined = comparisons.flatMap((c) =>
      c.members.flatMap((m) => runValues(m, (r) => r.discovery?.joinedMs)),
    )
    if (joined.length > 0) {
      out.push(
        `Before each run (untimed): a fresh node's first lookup waits for kad-dht's first self-query, and the join, from the first dial to a warm routing table, took ${num(median(joined))} ms (median of ${joined.length}, at no dilation): a once-per-start cost, not a per-fetch one.`,
        '',
      )
    }
    out.push(chartLink(charts, SCHEDULING_CHART_FILE), '')
  }
  const churn = churnComparisons(results)
  if (churn.length > 0) {
    out.push(
      'Rescheduling after a loss (churn cells): the extra run time one departure costs, against the run at rest.',
      '',
      table(
        [
          'workload',
          'where',
          'extra s per departure',
          'run time at rest s',
          "rescheduling's share of the run",
          'fidelity',
        ],
        churn.flatMap(({ baseline, members }) =>
          members.map((m) => {
            const extra = secondsPerDeparture(m, baseline)
            const rest = cellMedian(baseline, (r) => r.seconds)
            return [
              m.workload,
              where(m),
              num(extra),
              num(rest),
              extra === undefined || rest === undefined
                ? '-'
                : pct(Math.max(0, extra) / (rest + Math.max(0, extra))),
              fidelityText(m),
            ]
          }),
        ),
      ),
    )
  }
  return out.join('\n')
}

/** W3's first byte split into lookup, dial and the first chunk, known vs found on the DHT. */
export function schedulingChart(results: Results): ChartSpec | undefined {
  const values = schedulingComparisons(results)
    .filter((c) => c.baseline.workload === 'W3-token-stream')
    .flatMap(({ baseline, members }) =>
      [baseline, ...members].flatMap((cell) => {
        const label = cell === baseline ? 'providers known' : 'found on the DHT'
        const firstByte = cellMedian(cell, (r) => r.ttfbMs) ?? 0
        const lookup = cellMedian(cell, (r) => r.discovery?.firstProviderMs) ?? 0
        const connected = cellMedian(cell, (r) => r.discovery?.connectedMs) ?? lookup
        return [
          { cell: label, part: '1 DHT lookup', ms: lookup },
          { cell: label, part: '2 dial and session', ms: Math.max(0, connected - lookup) },
          { cell: label, part: '3 first chunk', ms: Math.max(0, firstByte - connected) },
        ]
      }),
    )
  if (values.length === 0) return undefined
  const title = 'Scheduling: W3 first byte with providers known vs found on the DHT'
  return {
    file: SCHEDULING_CHART_FILE,
    title,
    spec: {
      title: { text: title, subtitle: 'medians of runs, undilated ms' },
      data: { values },
      width: 360,
      mark: 'bar',
      encoding: {
        y: { field: 'cell', type: 'nominal', title: '' },
        x: { field: 'ms', type: 'quantitative', title: 'time to first byte (ms)', stack: 'zero' },
        color: { field: 'part', type: 'nominal', title: 'part' },
        order: { field: 'part' },
      },
    } as unknown as TopLevelSpec,
  }
}
