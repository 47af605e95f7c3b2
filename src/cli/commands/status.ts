import type { Command } from 'commander'
import type { NodeReachability, NodeStatus } from '../../contract/api.ts'
import type { LendingState } from '../../lending/allowance.ts'
import { formatBytes, plural } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'

const pad = (n: number): string => String(n).padStart(2, '0')

/** "2026-12-02 07:00" in this machine's local time (the daemon's schedule is in its local time). */
export function localTime(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

const REASONS: Record<NonNullable<LendingState['reason']>, string> = {
  schedule: 'outside the serving schedule',
  'daily-cap': 'daily cap used up',
  'monthly-cap': 'monthly cap used up',
}

function usage(used: number, cap: number, what: string): string {
  return cap === 0
    ? `${formatBytes(used)} served (no ${what} cap)`
    : `${formatBytes(used)} of ${formatBytes(cap)} served (${formatBytes(Math.max(0, cap - used))} left)`
}

/** The lending lines of `bwnode status`: open or not and until when, schedule, caps, use. */
export function lendingLines(lending: LendingState): string[] {
  const now =
    lending.open && lending.until !== null
      ? `open until ${localTime(lending.until)}`
      : lending.open
        ? 'open'
        : `closed (${REASONS[lending.reason ?? 'schedule']})${lending.until === null ? '' : ` until ${localTime(lending.until)}`}`
  return [
    `lending     ${now}`,
    `schedule    ${lending.schedule.length === 0 ? 'always' : `${lending.schedule.join(', ')} (local time)`}`,
    `today       ${usage(lending.usedTodayBytes, lending.dailyCapBytes, 'daily')}`,
    `this month  ${usage(lending.usedThisMonthBytes, lending.monthlyCapBytes, 'monthly')}`,
  ]
}

const REACHABILITY: Record<NonNullable<NodeReachability['kind']>, string> = {
  public: 'public (peers dial it directly)',
  'nat-mapped': 'behind NAT, port mapped by the router (UPnP): peers dial it directly',
  relayed:
    'behind NAT, reachable through a relay (hole punching makes connections direct where the NATs allow)',
  nat: 'behind NAT, no relay reservation yet: only reachable by the peers it dials',
  private: 'only local addresses seen (no peer outside has reported a public one)',
}

/** The reachability lines of `bwnode status`: how peers reach it, through what, and its relay. */
export function reachabilityLines(r: NodeReachability): string[] {
  const indent = '\n            '
  return [
    `reachable   ${r.kind === null ? 'NAT traversal off (listens on loopback only)' : REACHABILITY[r.kind]}`,
    ...(r.publicAddrs.length > 0 ? [`public      ${r.publicAddrs.join(indent)}`] : []),
    ...(r.observedAddrs.length > 0 ? [`observed    ${r.observedAddrs.join(indent)}`] : []),
    ...(r.relayAddrs.length > 0 ? [`via relay   ${r.relayAddrs.join(indent)}`] : []),
    ...(r.relay === null
      ? []
      : [`relay       serving: ${r.relay.reservations} of ${r.relay.maxReservations} reservations held`]),
  ]
}

/** Whether lookups can start: a new node's first one waits for its first walk of the DHT. */
export function dhtJoinText(joined: NodeStatus['dhtJoined']): string {
  if (joined === null) return 'joining (lookups wait for the first walk of the DHT, once a peer is connected)'
  return `joined ${joined.afterSeconds.toFixed(1)} s after start (first walk found ${plural(joined.peersFound, 'peer')})`
}

export function statusText(s: NodeStatus): string {
  const uplink = s.offer.uplinkMbps > 0 ? `${s.offer.uplinkMbps} Mbit/s` : 'no cap'
  return [
    `peer id     ${s.peerId}`,
    `addresses   ${s.multiaddrs.join('\n            ')}`,
    ...reachabilityLines(s.reachability),
    `peers       ${plural(s.connectedPeers, 'peer')} connected`,
    `DHT         ${s.dhtMode} mode, ${plural(s.dhtRoutingTableSize, 'peer')} in routing table, ${dhtJoinText(s.dhtJoined)}`,
    `data dir    ${s.dataDir}`,
    `uplink      ${uplink} lent to peers, ${plural(s.offer.maxConcurrent, 'peer')} at once`,
    ...lendingLines(s.lending),
  ].join('\n')
}

export function registerStatus(program: Command): void {
  daemonCommand(
    program
      .command('status')
      .description(
        'show the running node: peer id, addresses, reachability, peers, DHT, uplink and lending limits',
      ),
  ).action(async (options: DaemonOptions) => {
    await run(options, async () => (await client(options)).get<NodeStatus>('/api/status'), statusText)
  })
}
