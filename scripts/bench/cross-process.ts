/**
 * Section cross-process: the data path as two machines run it. Provider and
 * fetcher are separate processes (so neither shares the other's thread), and
 * each bwnode fetch is measured beside its bare baselines between the same two
 * processes in the same run, in alternating order across rounds:
 *
 *   tcp   - plain node:net, 1 MiB writes with backpressure
 *   bare  - one libp2p stream (TCP + noise + yamux), no protocol
 *   fetch - a real Bwnode fetch (DHT lookup, manifest, verified and stored chunks)
 *
 * Placement A puts both processes on 127.0.0.1. Placement B (root with working
 * `ip netns` only) puts each in its own network namespace, joined by a veth pair
 * whose both ends the kernel shapes with tc tbf at a few rates, plus unshaped.
 * Each child reports its own CPU time per transfer, so every figure comes with
 * CPU-seconds per GB for each side and the rate at which this machine's CPU,
 * not the link, would be the limit.
 */
import { cpus } from 'node:os'
import { join } from 'node:path'
import { median } from '../../src/util/stats.ts'
import { type Kind, PeerProcess, type ServedDataset, type Transfer } from './cross-process-protocol.ts'
import {
  createVethPair,
  netnsUnavailableReason,
  shapeEgress,
  sweepNamespaces,
  type VethPair,
} from './netns.ts'
import { othersCpuSeconds, othersSnapshot } from './others-cpu.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const MIB = 1024 * 1024
const KINDS: Kind[] = ['tcp', 'bare', 'fetch']
/** A process whose CPU time per wall second reaches this is taken as CPU-bound (its event loop is one core). */
const CPU_BOUND_LOAD = 0.9
/** Other processes using this much CPU (CPU-s/s) during the transfers make the figure suspect. */
const SHARED_LOAD = 0.2
/**
 * A transfer during which other processes used SHARED_LOAD or more is measured again (the
 * least disturbed attempt is kept), up to this many attempts and while the section is within
 * its retry budget: on a shared machine the figure should be this code's, not a neighbour's.
 */
const MAX_ATTEMPTS = 4
const RETRY_BUDGET_MS = 150_000

/** One link setting between the two processes, and how much each transfer moves on it. */
interface LinkCase {
  /** Figure name prefix after `cross_process.`: loopback, netns_unshaped, netns_100mbit... */
  label: string
  /** Kernel tbf rate on both ends of the veth, Mbit/s; null: not shaped. */
  mbps: number | null
  bytes: number
}

/** One transfer's figures, with both sides' CPU over it. */
interface Sample {
  transfer: Transfer
  providerCpuSeconds: number
  providerSeconds: number
  /**
   * CPU-seconds per second that other user-space processes (not provider, fetcher or this
   * one) used meanwhile: on a shared machine a figure taken while others ran is not this
   * code's rate.
   */
  otherLoad: number
}

/** How often a transfer disturbed by other processes is measured again. */
interface Retry {
  attempts: number
  /** No retries after this time (Date.now()), so the section stays within its time. */
  until: number
}

interface Placement {
  provider: { host: string; netns?: string }
  fetcher: { host: string; netns?: string }
  cases: LinkCase[]
  /** Applies a case's link setting before its rounds. */
  shape(mbps: number | null): void
}

export async function crossProcessBench(ctx: BenchContext): Promise<BenchResult[]> {
  const rounds = ctx.quick ? 1 : 3
  const retry: Retry = { attempts: ctx.quick ? 1 : MAX_ATTEMPTS, until: Date.now() + RETRY_BUDGET_MS }
  const results: BenchResult[] = []
  const loopback: Placement = {
    provider: { host: '127.0.0.1' },
    fetcher: { host: '127.0.0.1' },
    cases: [{ label: 'loopback', mbps: null, bytes: (ctx.quick ? 8 : 256) * MIB }],
    shape: () => {},
  }
  results.push(...(await runPlacement(ctx, 'loopback', loopback, rounds, retry)))

  const reason = netnsUnavailableReason()
  if (reason !== null) {
    ctx.log(`cross-process: network namespaces skipped: ${reason}`)
    results.push(info('cross_process.netns.skipped', Number.NaN, '', `skipped: ${reason}`))
    return results
  }
  // Leftovers of a run that was killed before it could clean up.
  const swept = sweepNamespaces()
  if (swept.length > 0) ctx.log(`cross-process: removed stale namespaces ${swept.join(', ')}`)
  const pair = createVethPair()
  const removePair = (): void => pair.remove()
  process.once('exit', removePair)
  try {
    results.push(...(await runPlacement(ctx, 'netns', netnsPlacement(pair, ctx.quick), rounds, retry)))
  } finally {
    pair.remove()
    process.off('exit', removePair)
  }
  return results
}

function netnsPlacement(pair: VethPair, quick: boolean): Placement {
  // Sizes keep each transfer at ~2.5-4 s on its link: long enough that start-up
  // (connect, DHT lookup, manifest) is a small part, short enough for three rounds.
  const cases: LinkCase[] = quick
    ? [{ label: 'netns_400mbit', mbps: 400, bytes: 8 * MIB }]
    : [
        { label: 'netns_unshaped', mbps: null, bytes: 256 * MIB },
        { label: 'netns_400mbit', mbps: 400, bytes: 128 * MIB },
        { label: 'netns_100mbit', mbps: 100, bytes: 48 * MIB },
      ]
  return {
    provider: { host: pair.a.address, netns: pair.a.netns },
    fetcher: { host: pair.b.address, netns: pair.b.netns },
    cases,
    shape: (mbps) => {
      shapeEgress(pair.a.netns, mbps)
      shapeEgress(pair.b.netns, mbps)
    },
  }
}

async function runPlacement(
  ctx: BenchContext,
  name: string,
  placement: Placement,
  rounds: number,
  retry: Retry,
): Promise<BenchResult[]> {
  const peerOptions = (role: 'provider' | 'fetcher', where: { host: string; netns?: string }) => ({
    role,
    host: where.host,
    dataDir: join(ctx.workDir, `cross-process-${name}-${role}`),
    ...(where.netns === undefined ? {} : { netns: where.netns }),
    log: ctx.log,
  })
  const started = await Promise.allSettled([
    PeerProcess.start(peerOptions('provider', placement.provider)),
    PeerProcess.start(peerOptions('fetcher', placement.fetcher)),
  ])
  const peers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  try {
    const failed = started.find((s) => s.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    const [provider, fetcher] = peers as [PeerProcess, PeerProcess]
    const address = provider.ready.multiaddrs.find((a) => a.startsWith(`/ip4/${placement.provider.host}/`))
    if (address === undefined) {
      throw new Error(
        `provider has no address on ${placement.provider.host}: ${provider.ready.multiaddrs.join(' ')}`,
      )
    }
    await fetcher.request({ op: 'dial', multiaddr: address })
    const served = new Map<string, ServedDataset>()
    for (const linkCase of placement.cases) {
      const dataset = await provider.request<ServedDataset>({
        op: 'dataset',
        key: linkCase.label,
        bytes: linkCase.bytes,
      })
      await provider.request({ op: 'provide', cid: dataset.cid })
      await fetcher.request({ op: 'wait-providers', cid: dataset.cid })
      served.set(linkCase.label, dataset)
    }
    const results: BenchResult[] = []
    for (const linkCase of placement.cases) {
      placement.shape(linkCase.mbps)
      const dataset = served.get(linkCase.label) as ServedDataset
      ctx.log(`cross-process ${linkCase.label}: ${dataset.bytes / MIB} MiB, ${rounds} round(s)`)
      const once = async (kind: Kind): Promise<Sample> => {
        const measure = () =>
          measureTransfer(provider, fetcher, kind, dataset, placement.provider.host, provider.ready.peerId)
        try {
          return await measure()
        } catch (err) {
          // Seen once on a loaded machine: a bare stream that ended at once with 0 bytes. One
          // short transfer is logged and measured again; a second one fails the section.
          if (!(err instanceof ShortTransferError)) throw err
          ctx.log(`cross-process ${linkCase.label}: ${err.message}; measuring again`)
          return await measure()
        }
      }
      // Warm-up: JIT, yamux windows, TCP congestion windows, page cache.
      if (!ctx.quick) for (const kind of KINDS) await once(kind)
      const samples: Record<Kind, Sample[]> = { tcp: [], bare: [], fetch: [] }
      for (let round = 0; round < rounds; round++) {
        for (const kind of round % 2 === 0 ? KINDS : [...KINDS].reverse()) {
          samples[kind].push(await leastDisturbed(ctx, `${linkCase.label} ${kind}`, retry, () => once(kind)))
        }
      }
      results.push(...figures(ctx, linkCase, samples))
    }
    placement.shape(null)
    return results
  } finally {
    await Promise.allSettled(peers.map((peer) => peer.stop()))
  }
}

/** Measures again while other processes disturbed the transfer (see MAX_ATTEMPTS); keeps the least disturbed. */
async function leastDisturbed(
  ctx: BenchContext,
  what: string,
  retry: Retry,
  measure: () => Promise<Sample>,
): Promise<Sample> {
  let best: Sample | undefined
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    const sample = await measure()
    if (best === undefined || sample.otherLoad < best.otherLoad) best = sample
    if (sample.otherLoad < SHARED_LOAD || attempt === retry.attempts || Date.now() > retry.until) break
    ctx.log(
      `cross-process ${what}: other processes used ${sample.otherLoad.toFixed(2)} CPU-s/s, measuring again`,
    )
  }
  return best as Sample
}

class ShortTransferError extends Error {
  override name = 'ShortTransferError'
}

async function measureTransfer(
  provider: PeerProcess,
  fetcher: PeerProcess,
  kind: Kind,
  dataset: ServedDataset,
  host: string,
  peerId: string,
): Promise<Sample> {
  const ours = new Set([process.pid, provider.pid, fetcher.pid])
  await provider.request({ op: 'cpu-mark' })
  const othersBefore = othersSnapshot(ours)
  const wallBefore = performance.now()
  const transfer = await fetcher.request<Transfer>({
    op: 'transfer',
    kind,
    host,
    tcpPort: dataset.tcpPort,
    peerId,
    bareProtocol: dataset.bareProtocol,
    cid: dataset.cid,
  })
  const cpu = await provider.request<{ cpuSeconds: number; seconds: number }>({ op: 'cpu-read' })
  const wall = (performance.now() - wallBefore) / 1000
  const otherLoad = othersCpuSeconds(othersBefore, othersSnapshot(ours)) / wall
  if (transfer.bytes < dataset.bytes) {
    throw new ShortTransferError(`${kind} transfer moved ${transfer.bytes} of ${dataset.bytes} bytes`)
  }
  return { transfer, providerCpuSeconds: cpu.cpuSeconds, providerSeconds: cpu.seconds, otherLoad }
}

/** Medians over rounds, per kind. */
interface KindFigures {
  bytesPerSec: number
  steadyBytesPerSec: number
  providerCpuPerGb: number
  fetcherCpuPerGb: number
  /** CPU-seconds per wall second during the transfer. */
  providerLoad: number
  fetcherLoad: number
  otherLoad: number
}

function summarize(samples: Sample[]): KindFigures {
  const per = (pick: (s: Sample) => number): number => median(samples.map(pick))
  return {
    bytesPerSec: per((s) => s.transfer.bytes / s.transfer.seconds),
    steadyBytesPerSec: per((s) => s.transfer.steadyBytesPerSec ?? Number.NaN),
    providerCpuPerGb: per((s) => s.providerCpuSeconds / (s.transfer.bytes / 1e9)),
    fetcherCpuPerGb: per((s) => s.transfer.cpuSeconds / (s.transfer.bytes / 1e9)),
    providerLoad: per((s) => s.providerCpuSeconds / s.providerSeconds),
    fetcherLoad: per((s) => s.transfer.cpuSeconds / s.transfer.seconds),
    otherLoad: per((s) => s.otherLoad),
  }
}

/**
 * The rate at which the CPU would stop this transfer on this machine, bytes/s:
 * each process's event loop is one core (so the busier side's CPU-s/GB caps it),
 * and the two sides together cannot use more cores than there are.
 */
function cpuLimitRate(k: KindFigures, cores: number): number {
  const busier = Math.max(k.providerCpuPerGb, k.fetcherCpuPerGb)
  const both = k.providerCpuPerGb + k.fetcherCpuPerGb
  return Math.min(1e9 / busier, (cores * 1e9) / both)
}

function boundNote(k: KindFigures): string {
  const cores = cpus().length
  const limits = [
    ...(k.providerLoad >= CPU_BOUND_LOAD ? [`provider at ${k.providerLoad.toFixed(2)} CPU-s/s`] : []),
    ...(k.fetcherLoad >= CPU_BOUND_LOAD ? [`fetcher at ${k.fetcherLoad.toFixed(2)} CPU-s/s`] : []),
    ...(k.providerLoad + k.fetcherLoad + k.otherLoad >= cores * CPU_BOUND_LOAD
      ? [`all ${cores} cores busy`]
      : []),
  ]
  const shared =
    k.otherLoad >= SHARED_LOAD ? `; other processes used ${k.otherLoad.toFixed(2)} CPU-s/s meanwhile` : ''
  return `${limits.length > 0 ? `CPU-limited (${limits.join(', ')})` : 'not CPU-limited'}${shared}`
}

function figures(ctx: BenchContext, linkCase: LinkCase, samples: Record<Kind, Sample[]>): BenchResult[] {
  const p = `cross_process.${linkCase.label}`
  const k = { tcp: summarize(samples.tcp), bare: summarize(samples.bare), fetch: summarize(samples.fetch) }
  const mb = (kind: Kind): number => k[kind].bytesPerSec / 1e6
  const link = linkCase.mbps === null ? 'unshaped' : `tc tbf ${linkCase.mbps} Mbit/s`
  ctx.log(
    `cross-process ${linkCase.label} MB/s: tcp ${mb('tcp').toFixed(1)}, bare ${mb('bare').toFixed(1)}, ` +
      `fetch ${mb('fetch').toFixed(1)}; fetch CPU-s/GB provider ${k.fetch.providerCpuPerGb.toFixed(2)}, ` +
      `fetcher ${k.fetch.fetcherCpuPerGb.toFixed(2)}; others used ${k.fetch.otherLoad.toFixed(2)} CPU-s/s`,
  )
  const fetchVsBare = k.fetch.bytesPerSec / k.bare.bytesPerSec
  const fetchVsTcp = k.fetch.bytesPerSec / k.tcp.bytesPerSec
  const results: BenchResult[] = [
    info(`${p}.tcp`, mb('tcp'), 'MB/s', `plain TCP between two processes, ${link}; ${boundNote(k.tcp)}`),
    info(`${p}.bare_libp2p`, mb('bare'), 'MB/s', `one libp2p stream, ${link}; ${boundNote(k.bare)}`),
    info(`${p}.fetch`, mb('fetch'), 'MB/s', `bwnode fetch, whole fetch, ${link}; ${boundNote(k.fetch)}`),
    info(`${p}.fetch_steady`, k.fetch.steadyBytesPerSec / 1e6, 'MB/s', 'first chunk arrived to last stored'),
    info(`${p}.bare_vs_tcp`, k.bare.bytesPerSec / k.tcp.bytesPerSec, 'x', 'libp2p stack cost'),
    linkCase.label === 'loopback'
      ? checked(`${p}.fetch_vs_bare`, fetchVsBare, 'x', '>=', 0.9, 'separate processes on 127.0.0.1')
      : info(`${p}.fetch_vs_bare`, fetchVsBare, 'x'),
    linkCase.mbps !== null
      ? checked(`${p}.fetch_vs_tcp`, fetchVsTcp, 'x', '>=', 0.95, `kernel-shaped link (${link})`)
      : info(`${p}.fetch_vs_tcp`, fetchVsTcp, 'x'),
  ]
  for (const kind of KINDS) {
    results.push(
      info(`${p}.${kind}.provider_cpu_s_per_gb`, k[kind].providerCpuPerGb, 'CPU-s/GB', 'serving side'),
      info(`${p}.${kind}.fetcher_cpu_s_per_gb`, k[kind].fetcherCpuPerGb, 'CPU-s/GB', 'fetching side'),
      info(`${p}.${kind}.provider_cpu_load`, k[kind].providerLoad, 'CPU-s/s', 'near 1: CPU-bound'),
      info(`${p}.${kind}.fetcher_cpu_load`, k[kind].fetcherLoad, 'CPU-s/s', 'near 1: CPU-bound'),
      info(`${p}.${kind}.other_cpu_load`, k[kind].otherLoad, 'CPU-s/s', 'other processes meanwhile'),
    )
    // Where the link does not set the rate, say what rate this machine's CPU allows.
    if (linkCase.mbps === null) {
      results.push(
        info(
          `${p}.${kind}.cpu_limit`,
          cpuLimitRate(k[kind], cpus().length) / 1e6,
          'MB/s',
          `rate at which one side needs a full core (${cpus().length} cores)`,
        ),
      )
    }
  }
  return results
}
