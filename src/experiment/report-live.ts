/**
 * The sections of a live run's report (mode live) that replace the emulated lab's calibration and
 * method: what the run measured against (the real providers, their offers, what they delivered),
 * what it could not measure, and how its runs were sized. The other sections are shared.
 */
import { median } from '../util/stats.ts'
import { num, table } from './report-format.ts'
import type { Cell, LiveRun, Results } from './types.ts'

function liveOf(results: Results): LiveRun {
  return (
    results.live ?? {
      daemon: String(results.config.knobs['daemon'] ?? 'unknown'),
      dataset: { cid: String(results.config.knobs['dataset'] ?? 'unknown'), name: '', bytes: 0, chunks: 0 },
      providers: [],
      sizing: [],
      creditsSpent: 0,
      errors: [],
    }
  )
}

/** In place of Calibration: no emulator ran, so nothing is compared with itself. */
export function liveMeasuredSection(results: Results): string {
  const live = liveOf(results)
  const failed = results.cells.filter((c) => c.error !== undefined)
  const out = [
    '## What was measured',
    '',
    `Live run on a real network: a measuring node (this process, ${measurerLink(live)}) bootstrapped from daemon ` +
      `${live.daemon}, found ${live.providers.length} provider(s) of ${live.dataset.name || live.dataset.cid} ` +
      `(${num(live.dataset.bytes / 1e6)} MB, ${live.dataset.chunks} chunks) and measured each alone and all of them ` +
      `together against its own local copy. It paid the providers as any node does: ${num(live.creditsSpent)} credits in all.`,
    '',
    "- Measured: round trips (libp2p ping, 5 per provider), each run's time, throughput, time to first byte, chunk " +
      "latency, stalls, and this process's event loop and CPU (the fidelity labels).",
    '- Not measured, and why: the distance to each provider (a real network reports round trips, not kilometres, so ' +
      "every RTT is carried as access latency and the claim's mechanism, distance, is not tested); a distant origin " +
      "(none was configured); the providers' own load and links beyond what their offers say.",
    '- No calibration: there is no emulator whose delays and rates could be checked against a configuration.',
  ]
  if (live.errors.length > 0 || failed.length > 0) {
    out.push('', '**Errors** (a failed cell is kept in the tables with its error):', '')
    for (const e of live.errors) out.push(`- ${e}`)
    for (const c of failed) out.push(`- ${c.id} (${c.workload}): ${c.error}`)
  }
  return out.join('\n')
}

/** In place of the lab's Method: how the live run was done and sized. */
export function liveMethodSection(results: Results): string {
  const live = liveOf(results)
  const out = [
    '## Method',
    '',
    `Mode **live**, seed ${results.config.seed}, up to ${results.config.repetitions} repetitions per cell, started ` +
      `${results.startedAt}. W4 stages the dataset from every provider through the node's fetcher and multi-source ` +
      'scheduler, and its local baseline copies the staged dataset chunk by chunk into an empty store on this machine; W2 reads it in order and W1 (datasets of 16 files or more) reads its files in a seeded random ' +
      `order at 8 MB/s, each from local storage, from each provider alone and from all of them, ${String(results.config.knobs['inFlight'] ?? 16)} requests in flight per provider.`,
    '',
    "**Fidelity labels** as in the emulated experiment, with the providers' offered uplinks standing for the " +
      'configured links: link-bound (window-bound, consumer-paced) at 0.9 of what the offers allow; machine-bound ' +
      'when this machine was saturated (event loop or CPU at 90%); network-bound otherwise (below the offers, or no ' +
      'offered rate to compare with, while the machine had room: the real network, the providers and the chunk path, ' +
      'which a live run cannot tell apart). Verdicts use the same interval rules; a machine-bound deciding cell is ' +
      'inconclusive.',
    '',
    '**Sizing.** Runs are sized to the dataset and to the rates measured before them:',
    '',
    ...(live.sizing.length > 0
      ? live.sizing.map((s) => `- ${s}`)
      : ['- no run was sized (no provider answered)']),
  ]
  return out.join('\n')
}

function w2Alone(results: Results, label: string): Cell | undefined {
  return results.cells.find(
    (c) =>
      c.workload === 'W2-sequential-shards' &&
      c.placement !== 'P0-local-warm' &&
      c.id.endsWith(compact(label)),
  )
}

function compact(label: string): string {
  return label.replace(/[^A-Za-z0-9]+/g, '').slice(0, 12)
}

/** The real providers: who, where from, round trips, offers, and what each delivered alone. */
export function providersSection(results: Results): string {
  const live = liveOf(results)
  const out = ['## Providers', '']
  if (live.providers.length === 0) return [...out, '_No provider answered._'].join('\n')
  out.push(
    table(
      [
        'provider',
        'found by',
        'addresses',
        'RTT ms min / median / max (pings)',
        'offer: uplink, price',
        'W2 alone, MB/s (median)',
        'of the offer',
      ],
      live.providers.map((p) => {
        const sorted = [...p.pingsMs].sort((a, b) => a - b)
        const alone = w2Alone(results, p.label)
        const rate =
          alone !== undefined && alone.runs.length > 0
            ? median(alone.runs.map((r) => r.throughputMBps))
            : undefined
        const offeredMBps = p.offer !== null && p.offer.uplinkMbps > 0 ? p.offer.uplinkMbps / 8 : undefined
        return [
          p.peerId,
          p.foundBy,
          p.addrs.join(' ') || '-',
          sorted.length === 0
            ? '-'
            : `${num(sorted[0])} / ${num(median(sorted))} / ${num(sorted.at(-1))} (${sorted.length})`,
          p.offer === null
            ? 'no offer found'
            : `${p.offer.uplinkMbps > 0 ? `${num(p.offer.uplinkMbps)} Mbit/s` : 'no cap'}, ${num(p.offer.pricePerGiB)} credits/GiB`,
          rate === undefined ? (alone?.error ?? '-') : num(rate),
          rate === undefined || offeredMBps === undefined ? '-' : num(rate / offeredMBps),
        ]
      }),
    ),
  )
  return out.join('\n')
}

function measurerLink(live: LiveRun): string {
  const link = live.sharedLink
  if (link === undefined) return 'no link emulator'
  return (
    `sharing the daemon's emulated link: ${num(link.accessLatencyMs)} ms access latency one way at ` +
    `position ${num(link.position.x)}, ${num(link.position.y)} km, so every round trip includes the delays the lab adds`
  )
}
