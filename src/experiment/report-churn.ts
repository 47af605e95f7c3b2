/**
 * The report's "Churn" section: the swarm workloads with one home peer leaving the network during
 * each run, against the same cells at rest, and what that costs per hour of the workload with the
 * session lengths measured on the public IPFS network (scenarios.ts: sessionWeibull).
 */

import { median } from '../util/stats.ts'
import { groupedBars } from './chart-shapes.ts'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { chartLink, fidelityText, medianRange, num, pct, table, where } from './report-format.ts'
import { groupComparisons, ratioText, runValues } from './report-groups.ts'
import { CHURN_TAG, SESSION_MEDIAN_HOURS, SESSION_P80_HOURS, sessionWeibull } from './scenarios.ts'
import { cellStats } from './stats.ts'
import type { Cell, Results } from './types.ts'

export function churnComparisons(results: Results) {
  return groupComparisons(results, CHURN_TAG, (c) => c.churn !== undefined)
}

/** Median extra run time per departure, s (negative: noise larger than the effect). */
export function secondsPerDeparture(member: Cell, baseline: Cell): number | undefined {
  const departures = member.churn?.departures ?? 0
  const a = runValues(member, (r) => r.seconds)
  const b = runValues(baseline, (r) => r.seconds)
  if (departures === 0 || a.length === 0 || b.length === 0) return undefined
  return (median(a) - median(b)) / departures
}

export const CHURN_CHART_FILE = 'churn.svg'

/** Run time at rest and with one peer leaving, per workload (medians of runs). */
export function churnChart(results: Results): ChartSpec | undefined {
  const values = churnComparisons(results).flatMap(({ baseline, members }) =>
    [baseline, ...members].map((cell) => ({
      workload: cell.workload.slice(0, 2),
      condition: cell === baseline ? 'at rest' : `${cell.churn?.departures ?? 0} peer leaves`,
      seconds: median(cell.runs.map((r) => r.seconds)),
    })),
  )
  if (values.length === 0) return undefined
  const title = 'Churn: run time at rest and with a home peer leaving'
  return {
    file: CHURN_CHART_FILE,
    title,
    spec: groupedBars({
      title,
      subtitle: 'medians of runs',
      values,
      width: 300,
      category: { field: 'workload', title: 'workload' },
      group: { field: 'condition', title: '' },
      value: { field: 'seconds', title: 'run time (s)' },
    }),
  }
}

export function churnSection(results: Results, charts: readonly RenderedChart[] = []): string {
  const comparisons = churnComparisons(results)
  const session = sessionWeibull()
  const out = [
    '## Churn',
    '',
    `Home peers come and go. Session lengths on the public IPFS network (ProbeLab, RFM 2 "Uptime and Churn", Nebula crawls of the DHT over one week of 2022): 50% of peers stay online ${SESSION_MEDIAN_HOURS} h or less, 80% ${SESSION_P80_HOURS} h or less. ` +
      `A Weibull distribution through those two points has shape ${num(session.shape)} (heavy tailed, like the Gnutella, BitTorrent and Kad sessions of Stutzbach and Rejaie, IMC 2006) and scale ${num(session.scaleHours)} h: a mean session of ${num(session.meanHours)} h. ` +
      'In these cells one of the peers serving the run leaves the network (every connection reset, no new ones) a third of the way through what the links allow, and does not come back during the run; ' +
      'the reader drops its source and reads the rest from the others (W1, W2), the fetcher drops it as lost and redials it in vain (W4). ' +
      'A run is short next to a session, so the cost is read per departure and scaled by how often a swarm of k peers loses one: k / mean session per hour.',
    '',
  ]
  if (comparisons.length === 0) {
    out.push('_No churn cells in these results._')
    return out.join('\n')
  }
  const rows: string[][] = []
  for (const [i, { baseline, members }] of comparisons.entries()) {
    for (const cell of [baseline, ...members]) {
      const s = cellStats(cell)
      const isBaseline = cell === baseline
      const perDeparture = isBaseline ? undefined : secondsPerDeparture(cell, baseline)
      const k = cell.k ?? 1
      const perHour = k / session.meanHours
      const lost = cell.runs.reduce((n, r) => n + (r.lostSources?.length ?? 0), 0)
      rows.push([
        cell.workload,
        where(cell),
        isBaseline ? 'none' : `${cell.churn?.departures ?? 0} per run`,
        isBaseline ? '-' : `${lost} in ${cell.runs.length} runs`,
        medianRange(s.seconds),
        isBaseline ? '1' : ratioText(cell, baseline, (r) => r.seconds, results.config.seed + 41 * i),
        medianRange(s.stallFraction),
        perDeparture === undefined ? '-' : num(perDeparture),
        isBaseline ? '-' : num(perHour),
        perDeparture === undefined ? '-' : pct(Math.max(0, perDeparture * perHour) / 3600),
        fidelityText(cell),
      ])
    }
  }
  out.push(
    table(
      [
        'workload',
        'where',
        'peers leaving',
        'sources lost (seen)',
        'run time s',
        'run time, churn / at rest',
        'stall fraction',
        'extra s per departure',
        'departures per hour (k / mean session)',
        'share of an hour lost',
        'fidelity',
      ],
      rows,
    ),
    '',
    'The share of an hour is an upper bound for long workloads: the run never replaces the peer that left, while a real swarm finds another within a discovery round, so later runs of an hour-long job start again at full strength.',
    '',
    chartLink(charts, CHURN_CHART_FILE),
  )
  return out.join('\n')
}
