/**
 * The report's "Cost" section and its chart: what a GB costs per workload through shared peers (the
 * credits the offers ask) beside a cloud object store's list prices (egress plus read requests, whose
 * share grows as a workload's requests shrink), and the value a credit would need to cost the same.
 */
import { DEFAULT_PRICE_PER_GIB } from '../config/defaults.ts'
import { median } from '../util/stats.ts'
import { groupedBars } from './chart-shapes.ts'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { dollarsPerGB, OBJECT_STORE_PRICES } from './prices.ts'
import { chartLink, num, table } from './report-format.ts'
import { type Cell, type Results, WORKLOADS, type Workload } from './types.ts'

export const COST_CHART_FILE = 'cost-per-gb.svg'
const GiB = 1024 ** 3

/** The cell that stands for a workload's shared peers: its network cell, else any peer cell. */
function peerCell(results: Results, workload: Workload): Cell | undefined {
  const cells = results.cells.filter((c) => c.workload === workload && c.runs.length > 0)
  return cells.find((c) => c.role === 'network') ?? cells.find((c) => c.placement === 'P2-residential-peers')
}

/** Bytes one request moves: a sample for W1 (a pass reads every sample once), a chunk otherwise. */
export function requestBytes(results: Results, cell: Cell): number {
  const samples = Number(results.config.knobs['samplesCount'])
  if (cell.workload === 'W1-random-samples' && samples > 0) {
    const pass = cell.runs.map((r) => r.bytes)
    return median(pass) / samples
  }
  return cell.chunkSizeBytes
}

export interface SharedPrice {
  creditsPerGiB: number
  /** Credits paid per GiB delivered, measured (live runs: the ledger), or undefined where nothing was paid. */
  paidPerDelivered?: number
  basis: string
}

/** The price of shared peers in these results: the live providers' offers, else the node's default offer. */
export function sharedPrice(results: Results): SharedPrice {
  const live = results.live
  if (live?.providers.some((p) => p.offer !== null)) {
    const creditsPerGiB = median(
      live.providers.flatMap((p) => (p.offer === null ? [] : [p.offer.pricePerGiB])),
    )
    const delivered = results.cells.flatMap((c) => c.runs).reduce((n, r) => n + r.peerBytes, 0)
    const owed = (delivered / GiB) * creditsPerGiB
    return {
      creditsPerGiB,
      ...(owed > 0 ? { paidPerDelivered: live.creditsSpent / owed } : {}),
      basis: `the providers' offers (median ${num(creditsPerGiB)} credits/GiB); paid ${num(live.creditsSpent)} credits for ${num(delivered / 1e9)} GB delivered`,
    }
  }
  return {
    creditsPerGiB: DEFAULT_PRICE_PER_GIB,
    basis: `the node's default offer (${num(DEFAULT_PRICE_PER_GIB)} credit/GiB): the lab's nodes offer their links at no price, since the lab measures links, not payments`,
  }
}

export function costRows(results: Results) {
  const price = sharedPrice(results)
  const creditsPerGB = ((price.creditsPerGiB * 1e9) / GiB) * (price.paidPerDelivered ?? 1)
  return WORKLOADS.flatMap((workload) => {
    const cell = peerCell(results, workload)
    if (cell === undefined) return []
    const bytes = requestBytes(results, cell)
    const stores = OBJECT_STORE_PRICES.map((p) => ({ store: p.name, dollarsPerGB: dollarsPerGB(p, bytes) }))
    return [{ workload, requestBytes: bytes, creditsPerGB, stores }]
  })
}

export function costSection(results: Results, charts: readonly RenderedChart[]): string {
  const price = sharedPrice(results)
  const rows = costRows(results)
  const out = [
    '## Cost',
    '',
    `Shared peers charge per byte, in credits: here at ${price.basis}. ` +
      'A cloud object store charges for the bytes that leave it (egress) and for every read request, so a workload of small ' +
      'requests pays more per GB. Local storage has no per-GB price: its cost is the hardware, which this report does not price. ' +
      'Credits are simulated and have no exchange rate; the last columns give the dollar value a credit would need for peers to cost ' +
      'what each store costs for that workload. Store prices are list prices, quoted (not measured; they change):',
    '',
    ...OBJECT_STORE_PRICES.map(
      (p) => `- ${p.name}: $${p.egressPerGB}/GB out, $${p.readsPer1000} per 1,000 reads (${p.source})`,
    ),
    '',
  ]
  if (price.paidPerDelivered !== undefined) {
    out.push(
      `Measured: the node paid ${num(price.paidPerDelivered)} x the offered price for the bytes it was delivered.`,
      '',
    )
  }
  if (rows.length === 0) {
    out.push('_No peer cells in these results._')
    return out.join('\n')
  }
  out.push(
    "Per workload, each store's price per GB and, in brackets, the dollar value of a credit at which peers cost the same:",
    '',
    table(
      [
        'workload',
        'bytes per request',
        'requests per GB',
        'peers, credits/GB',
        ...OBJECT_STORE_PRICES.map((p) => `${p.name}, $/GB (credit at par, $)`),
      ],
      rows.map((r) => [
        r.workload,
        num(r.requestBytes),
        num(1e9 / r.requestBytes),
        num(r.creditsPerGB),
        ...r.stores.map((s) => `${num(s.dollarsPerGB)} (${num(s.dollarsPerGB / r.creditsPerGB)})`),
      ]),
    ),
    '',
    chartLink(charts, COST_CHART_FILE),
  )
  return out.join('\n')
}

export function costChart(results: Results): ChartSpec | undefined {
  const values = costRows(results).flatMap((r) =>
    r.stores.map((s) => ({ workload: r.workload.slice(0, 2), store: s.store, dollars: s.dollarsPerGB })),
  )
  if (values.length === 0) return undefined
  const title = 'Cost per GB read from a cloud object store, per workload'
  return {
    file: COST_CHART_FILE,
    title,
    spec: groupedBars({
      title,
      subtitle: "list prices: egress + read requests at the workload's request size",
      values,
      width: 360,
      category: { field: 'workload', title: 'workload' },
      group: { field: 'store', title: 'store' },
      value: { field: 'dollars', title: 'US dollars per GB' },
    }),
  }
}
