import { median } from '../../src/util/stats.ts'

/** The NAT lab's plan (lab.json, written by scripts/nat-lab.sh), its results and their table. */

export type NatType = 'eim' | 'sym' | 'upnp'

export interface LabNode {
  name: string
  nat: NatType
  /** Network namespace the node runs in, and its router's. */
  ns: string
  router: string
  /** The router's public address. */
  wan: string
  data: string
}

export interface LabPlan {
  relay: { ns: string; data: string }
  homes: LabNode[]
  trials: number
  out: string
  /** Whether routers' NAT state can be flushed between trials. */
  conntrack: boolean
}

export interface Trial {
  /** The connection the pair kept; none when the dial failed. */
  path: 'direct' | 'relayed' | 'none'
  /** The first connection seen: relayed when a direct one came from hole punching. */
  first: 'direct' | 'relayed'
  /** From the dial until the kept connection was open, ms. */
  connectMs: number
}

export interface PairResult {
  a: string
  b: string
  nats: [NatType, NatType]
  trials: Trial[]
  fetch: {
    out: string
    cid: string
    seed: string
    scale: number
    bytes: number
    /** What went over the connection (a chunk already held is not fetched again). */
    fetchedBytes: number
    seconds: number
    providers: string[]
    over: 'direct' | 'relayed'
    /** Connection tries after the trials before the fetch (the pair was relayed, could be direct). */
    retries: number
  }
  providerId: string
}

/** Every unordered pair of home nodes, in order. */
export function natPairs<T>(homes: T[]): Array<[T, T]> {
  const pairs: Array<[T, T]> = []
  for (let i = 0; i < homes.length; i++)
    for (let j = i + 1; j < homes.length; j++) pairs.push([homes[i] as T, homes[j] as T])
  return pairs
}

/**
 * Whether the NAT types let the pair connect directly: a UPnP mapping on either side (the other
 * dials the mapped port), or both endpoint-independent (a hole punch; a symmetric NAT's new port
 * per destination defeats it against conntrack's filtering on the other side).
 */
export function directExpected([x, y]: [NatType, NatType]): boolean {
  return x === 'upnp' || y === 'upnp' || (x === 'eim' && y === 'eim')
}

/** How a direct connection comes about for these NAT types. */
function method(nats: [NatType, NatType]): string {
  if (nats.includes('upnp')) return 'dial to mapped port'
  return directExpected(nats) ? 'hole punch' : 'relay only'
}

/** The Markdown table of a lab run, one row per pair. */
export function renderTable(results: PairResult[]): string {
  const rows = [
    '| pair | NATs | path | how | direct in trials | hole punches | time to connect (median) | fetch throughput |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of results) {
    const direct = r.trials.filter((t) => t.path === 'direct')
    const how = method(r.nats)
    const path = direct.length * 2 > r.trials.length ? 'direct' : 'relayed'
    const kept = r.trials.filter((t) => t.path === path)
    const mbps = (r.fetch.fetchedBytes * 8) / r.fetch.seconds / 1e6
    rows.push(
      [
        `${r.a} ↔ ${r.b}`,
        `${r.nats[0]} ↔ ${r.nats[1]}`,
        path,
        how,
        `${direct.length}/${r.trials.length}`,
        // Only a hole punch makes these pairs direct (their NATs drop unsolicited dials).
        how === 'dial to mapped port' ? '–' : `${direct.length}/${r.trials.length}`,
        `${Math.round(median(kept.map((t) => t.connectMs)))} ms`,
        `${mbps.toFixed(0)} Mbit/s (${r.fetch.over}, ${(r.fetch.fetchedBytes / 2 ** 20).toFixed(0)} MiB${r.fetch.retries > 0 ? `, after ${r.fetch.retries} more tries` : ''})`,
      ].join(' | '),
    )
  }
  return rows.map((row) => (row.startsWith('| ') ? row : `| ${row} |`)).join('\n')
}
