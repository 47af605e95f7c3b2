import type { Command } from 'commander'
import type { NodeStatus, OfferLending } from '../../contract/api.ts'
import { ERR } from '../../errors/codes.ts'
import { BwnodeError } from '../../errors/index.ts'
import { formatBytes, plural, table } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'
import { localTime } from './status.ts'

interface OfferRow {
  peerId: string
  uplinkMbps: number
  maxConcurrent: number
  pricePerGiB: number
  estimatedRttMs: number | null
  lending: OfferLending | null
}

/** What an offer says of its lending limits: "-" for a node without any. */
function lendingCell(lending: OfferLending | null): string {
  if (lending === null) return '-'
  const until = lending.until === undefined ? '' : ` until ${localTime(lending.until)}`
  return lending.open ? `open${until}` : `closed${until}`
}

interface CreditsReport {
  balance: number
  earned: number
  spent: number
  grant: number
  peers: Array<{ peerId: string; earned: number; spent: number; unpaidBytes: number; rejected: number }>
  history: Array<{ time: number; peer: string; kind: string; bytes: number; credits: number; code?: string }>
}

const fmt = (credits: number): string => credits.toFixed(6).replace(/\.?0+$/, '')

export function registerMarket(program: Command): void {
  daemonCommand(
    program.command('offers').description('bandwidth offers found on the DHT, nearest (estimated RTT) first'),
  ).action(async (options: DaemonOptions) => {
    let connectedPeers = 0
    await run(
      options,
      async () => {
        const api = await client(options)
        // With no peer connected a DHT walk cannot find anything: list what is known already
        // (refresh=false) instead of waiting for the walk to time out.
        connectedPeers = (await api.get<NodeStatus>('/api/status')).connectedPeers
        return api.get<OfferRow[]>(connectedPeers === 0 ? '/api/offers?refresh=false' : '/api/offers')
      },
      (offers) =>
        offers.length === 0
          ? connectedPeers === 0
            ? 'no offers: 0 peers connected, so the DHT cannot be searched (start the daemon with --bootstrap)'
            : `no offers found yet (asked through ${plural(connectedPeers, 'connected peer')})`
          : table([
              ['PEER', 'EST RTT ms', 'UPLINK Mbit/s', 'SLOTS', 'PRICE /GiB', 'LENDING'],
              ...offers.map((o) => [
                o.peerId,
                o.estimatedRttMs === null ? '-' : o.estimatedRttMs.toFixed(1),
                String(o.uplinkMbps),
                String(o.maxConcurrent),
                fmt(o.pricePerGiB),
                lendingCell(o.lending),
              ]),
            ]),
    )
  })

  const credits = daemonCommand(
    program
      .command('credits')
      .description('credit balance, earnings and spending per peer, and recent history')
      .option('--history <n>', 'history entries to show', '20'),
  ).action(async (options: DaemonOptions & { history: string }) => {
    await run(
      options,
      async () => {
        const report = await (await client(options)).get<CreditsReport>(
          `/api/credits?limit=${encodeURIComponent(options.history)}`,
        )
        return report
      },
      (r) =>
        [
          `balance ${fmt(r.balance)} credits (grant ${fmt(r.grant)}, earned ${fmt(r.earned)}, spent ${fmt(r.spent)})`,
          r.peers.length === 0
            ? ''
            : table([
                ['PEER', 'EARNED', 'SPENT', 'UNPAID', 'REJECTED'],
                ...r.peers.map((p) => [
                  p.peerId,
                  fmt(p.earned),
                  fmt(p.spent),
                  formatBytes(p.unpaidBytes),
                  String(p.rejected),
                ]),
              ]),
          r.history.length === 0
            ? ''
            : `\nrecent:\n${table(
                r.history.map((e) => [
                  new Date(e.time).toISOString(),
                  e.kind,
                  e.peer,
                  formatBytes(e.bytes),
                  fmt(e.credits),
                  e.code ?? '',
                ]),
              )}`,
        ]
          .filter((line) => line.length > 0)
          .join('\n'),
    )
  })

  daemonCommand(
    credits
      .command('verify')
      .description('re-verify every stored voucher and that balances equal their sums'),
  ).action(async (_own: DaemonOptions, command: Command) => {
    // `credits` declares the same options and commander hands them to the
    // parent when they follow `verify`: read both.
    const options = command.optsWithGlobals<DaemonOptions>()
    await run(
      options,
      async () => {
        const report = await (await client(options)).get<{
          ok: boolean
          checked: number
          failures: Array<{ what: string; reason: string }>
        }>('/api/credits/verify')
        if (!report.ok) {
          const detail = report.failures.map((f) => `${f.what}: ${f.reason}`).join('; ')
          throw new BwnodeError(
            ERR.LEDGER_INVALID,
            `${report.failures.length} ledger check(s) failed: ${detail}`,
          )
        }
        return report
      },
      (r) => `ledger ok: ${r.checked} voucher(s) verified, balances match`,
    )
  })
}
