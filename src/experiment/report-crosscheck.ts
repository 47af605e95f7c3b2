/**
 * The report's "Kernel cross-check" section: the user-space emulator against kernel shaping. A live
 * run in the netns lab (one network namespace per node, rates by tc tbf, delays still from bwnode's
 * emulator) measured each home host alone; the same workload from one emulated home peer in this
 * run is set beside it, both as the share of the configured rate they delivered.
 */
import { median } from '../util/stats.ts'
import { groupedBars } from './chart-shapes.ts'
import type { ChartSpec, RenderedChart } from './charts.ts'
import { chartLink, fidelityText, num, pct, table } from './report-format.ts'
import { atRest } from './report-groups.ts'
import type { Cell, LiveProviderRecord, Results } from './types.ts'

/** The emulator and the kernel agree when their shares of the rate are within this of each other. */
export const CROSS_CHECK_TOLERANCE = 0.1
/** Providers offering more than this are the measuring host's own daemon, not a shaped home link. */
const SHAPED_UPLINK_MAX_MBPS = 1000

export interface CrossCheckRow {
  provider: LiveProviderRecord
  kernelCell: Cell
  emulatorCell: Cell
  kernelShare: number
  emulatorShare: number
  /** kernel share / emulator share. */
  agreement: number
}

const shareOfRate = (cell: Cell, rateMbps: number): number =>
  median(cell.runs.map((r) => r.throughputMBps)) / (rateMbps / 8)

/** The emulator's one-peer cell of a workload, at rest (W2 from one home peer). */
function emulatorCell(results: Results, workload: Cell['workload']): Cell | undefined {
  return results.cells.find(
    (c) =>
      c.workload === workload &&
      c.placement === 'P2-residential-peers' &&
      c.k === 1 &&
      atRest(c) &&
      c.runs.length > 0 &&
      c.model.rateMbps > 0,
  )
}

export function crossCheckRows(results: Results): CrossCheckRow[] {
  const rows: CrossCheckRow[] = []
  for (const check of results.crossChecks ?? []) {
    for (const kernelCell of check.cells) {
      const provider = check.live.providers.find((p) => kernelCell.id.includes(p.peerId.slice(-8)))
      const offered = provider?.offer?.uplinkMbps ?? 0
      if (provider === undefined || offered <= 0 || offered >= SHAPED_UPLINK_MAX_MBPS) continue
      const reference = emulatorCell(results, kernelCell.workload)
      if (reference === undefined) continue
      const kernelShare = shareOfRate(kernelCell, offered)
      const emulatorShare = shareOfRate(reference, reference.model.rateMbps)
      rows.push({
        provider,
        kernelCell,
        emulatorCell: reference,
        kernelShare,
        emulatorShare,
        agreement: kernelShare / emulatorShare,
      })
    }
  }
  return rows
}

export const CROSS_CHECK_CHART_FILE = 'kernel-cross-check.svg'

/** Share of the configured rate delivered, kernel-shaped host beside the emulated peer. */
export function crossCheckChart(results: Results): ChartSpec | undefined {
  const values = crossCheckRows(results).flatMap((r) => [
    { host: r.provider.label, shaper: 'kernel (tc tbf)', share: r.kernelShare },
    { host: r.provider.label, shaper: 'user-space emulator', share: r.emulatorShare },
  ])
  if (values.length === 0) return undefined
  const title = 'Kernel cross-check: share of the configured rate delivered (W2, one provider)'
  return {
    file: CROSS_CHECK_CHART_FILE,
    title,
    spec: groupedBars({
      title,
      subtitle: 'netns lab host vs one emulated home peer',
      values,
      width: 300,
      category: { field: 'host', title: 'kernel-shaped host' },
      group: { field: 'shaper', title: '' },
      value: { field: 'share', title: 'share of the configured rate', domain: [0, 1.1] },
    }),
  }
}

export function crossCheckSection(results: Results, charts: readonly RenderedChart[] = []): string {
  const out = [
    '## Kernel cross-check',
    '',
    'Does the user-space emulator deliver what a kernel-shaped link delivers? In the netns lab (`scripts/netns-lab.sh --live-out`) every ' +
      "node is a host of its own in a network namespace, its rates set by the kernel (tc tbf on its veth) and its delays by bwnode's " +
      'emulator; a live run there measured each home host alone. Beside each, the same workload from one emulated home peer in this ' +
      `run. Both are read as the share of the configured rate delivered; they agree when within ${pct(CROSS_CHECK_TOLERANCE)}.`,
    '',
  ]
  const rows = crossCheckRows(results)
  if (rows.length === 0) {
    out.push('_No kernel-shaped live run combined into these results._')
    return out.join('\n')
  }
  out.push(
    table(
      [
        'workload',
        'kernel-shaped host',
        'tc rate Mbit/s',
        'RTT ms (ping median)',
        'kernel: MB/s, share of rate',
        'emulator cell',
        'emulator: MB/s, share of rate',
        'kernel / emulator',
        'agree',
        'labels (kernel; emulator)',
      ],
      rows.map((r) => [
        r.kernelCell.workload,
        r.provider.label,
        num(r.provider.offer?.uplinkMbps),
        num(median(r.provider.pingsMs)),
        `${num(median(r.kernelCell.runs.map((x) => x.throughputMBps)))}, ${num(r.kernelShare)}`,
        `${r.emulatorCell.id} (${num(r.emulatorCell.model.rateMbps)} Mbit/s)`,
        `${num(median(r.emulatorCell.runs.map((x) => x.throughputMBps)))}, ${num(r.emulatorShare)}`,
        num(r.agreement),
        Math.abs(1 - r.agreement) <= CROSS_CHECK_TOLERANCE ? 'yes' : 'no',
        `${r.kernelCell.fidelity?.label ?? 'n/a'}; ${fidelityText(r.emulatorCell)}`,
      ]),
    ),
    '',
    'tc tbf counts every frame with its Ethernet, IP and TCP headers (66 of every 1514 bytes at a 1500-byte MTU: 4.4%), while the ' +
      "emulator counts the bytes on the TCP stream, so at the same configured rate the kernel's share is expected about 4% below the emulator's.",
  )
  const worst = Math.max(...rows.map((r) => Math.abs(1 - r.agreement)))
  out.push(
    '',
    worst <= CROSS_CHECK_TOLERANCE
      ? `Every pair agrees within ${pct(CROSS_CHECK_TOLERANCE)} (worst ${pct(worst)}).`
      : `Not every pair agrees: the worst differs by ${pct(worst)}, above ${pct(CROSS_CHECK_TOLERANCE)}.`,
    '',
    chartLink(charts, CROSS_CHECK_CHART_FILE),
  )
  return out.join('\n')
}
