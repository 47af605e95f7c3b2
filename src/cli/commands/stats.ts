import type { Command } from 'commander'
import type { BandwidthReport, TrafficFigures } from '../../node/bandwidth.ts'
import { formatBytes, formatDuration, formatRate, table } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'

const cells = (t: TrafficFigures): string[] => [
  formatBytes(t.totalIn),
  formatBytes(t.totalOut),
  formatRate(t.rateIn),
  formatRate(t.rateOut),
]

/** Like `ipfs stats bw`: totals and rates, then per peer and per dataset. */
export function bandwidthText(r: BandwidthReport, now = Date.now()): string {
  const lines = [
    `bandwidth since the daemon started (${formatDuration((now - r.since) / 1000)} ago)`,
    table([
      ['', 'TOTAL', 'RATE'],
      ['in', formatBytes(r.totalIn), formatRate(r.rateIn)],
      ['out', formatBytes(r.totalOut), formatRate(r.rateOut)],
    ]),
  ]
  const head = ['IN', 'OUT', 'RATE IN', 'RATE OUT']
  if (r.peers.length > 0) {
    lines.push('', table([['PEER', ...head], ...r.peers.map((p) => [p.peerId, ...cells(p)])]))
  }
  if (r.datasets.length > 0) {
    lines.push(
      '',
      table([['DATASET', 'NAME', ...head], ...r.datasets.map((d) => [d.cid, d.name ?? '-', ...cells(d)])]),
    )
  }
  if (r.peers.length === 0) lines.push('', 'no chunks fetched or served since the daemon started')
  return lines.join('\n')
}

export function registerStats(program: Command): void {
  const stats = program.command('stats').description('statistics of the running node')
  daemonCommand(
    stats
      .command('bw')
      .description(
        'bandwidth: bytes and rates in and out, per peer and per dataset, since the daemon started',
      ),
  ).action(async (options: DaemonOptions) => {
    await run(
      options,
      async () => (await client(options)).get<BandwidthReport>('/api/stats/bw'),
      (report) => bandwidthText(report),
    )
  })
}
