import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Database } from '../db/database.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import type { RandomSource } from '../util/random.ts'
import {
  DEFAULT_MAX_SAMPLE_AGE_MS,
  DEFAULT_MAX_SAMPLES_PER_KIND,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_THROUGHPUT_EWMA_ALPHA,
} from './constants.ts'
import { LatencyHistogram } from './histogram.ts'
import type { VivaldiCoordinate, VivaldiOptions } from './vivaldi.ts'
import { originCoordinate, parseCoordinate, updateCoordinate } from './vivaldi.ts'

const log = logger('bwnode:latency')

/**
 * Per-peer measurements kept in LevelDB (sublevel `latency`):
 *
 *   peers/<peerId>                         PeerRecord: window histograms, EWMA, lastSeen
 *   samples/<peerId>!<kind>!<ts>!<seq>     one raw sample (a number in the kind's unit)
 *   meta/coordinate                        this node's Vivaldi coordinate
 *
 * Raw samples are capped per peer and kind, and dropped past an age limit. Each
 * kind's histogram covers exactly the retained samples: a pruned sample is
 * subtracted from it in the same batch that deletes it, so percentiles describe
 * the retention window and survive restarts without re-reading the samples.
 */

/** What a sample measures; its unit is in the name of the summary field. */
export type SampleKind = 'rtt' | 'ttfb' | 'transfer' | 'connect'
const KINDS: readonly SampleKind[] = ['rtt', 'ttfb', 'transfer', 'connect']

export interface RetentionPolicy {
  /** Raw samples kept per peer and per kind. */
  maxSamplesPerKind?: number
  /** Raw samples older than this are pruned (ms). */
  maxAgeMs?: number
}

export interface LatencyRecorderInit {
  db: Database
  retention?: RetentionPolicy
  /** Wall clock in ms since the epoch (timestamps survive restarts). */
  clock?: () => number
  /** Weight of the newest transfer in the throughput EWMA. */
  throughputAlpha?: number
  /** Randomness and tuning for the local Vivaldi coordinate. */
  vivaldi?: VivaldiOptions & { random?: RandomSource }
}

/** Percentiles from the window histogram of one kind; all 0 when `samples` is 0. */
export interface WindowStats {
  p50: number
  p90: number
  p99: number
  samples: number
}

export interface PeerLatencySummary {
  peerId: string
  rttMs: WindowStats
  ttfbMs: WindowStats
  connectSetupMs: WindowStats
  /** Moving average (EWMA) of per-transfer throughput in MB/s (10^6 bytes); null before any transfer. */
  throughputMBps: number | null
  /** Transfers in the retention window. */
  transfers: number
  /** Last sample of any kind (ms since epoch); null if never seen. */
  lastSeen: number | null
}

interface KindRecord {
  /** Encoded LatencyHistogram of the retained samples. */
  hist: string
  count: number
  /** Timestamp of the oldest retained sample, null when none. */
  oldest: number | null
}

interface PeerRecord {
  lastSeen: number
  throughputMBps: number | null
  kinds: Record<SampleKind, KindRecord>
}

interface PeerState {
  lastSeen: number
  throughputMBps: number | null
  kinds: Record<SampleKind, KindState>
}

interface KindState {
  hist: LatencyHistogram
  count: number
  oldest: number | null
  /**
   * `hist` as stored (zlib-compressed), while it is unchanged since: every sample rewrites the
   * peer's record with all its kinds, and compressing the three a sample did not touch again cost
   * the pinger more than the ping.
   */
  encoded?: string
}

/** The narrow part of a libp2p node the pinger uses. */
export interface PingableNode {
  getConnections(): Array<{ remotePeer: PeerId }>
  services: { ping: { ping(peer: PeerId, options?: { signal?: AbortSignal }): Promise<number> } }
}

export interface PingOptions {
  /** A ping not answered within this is skipped (ms). */
  timeoutMs?: number
  /** The remote's Vivaldi coordinate if known (e.g. from its offer), to update ours with each RTT. */
  coordinateOf?: (peerId: PeerId) => VivaldiCoordinate | undefined
  /**
   * A ping failed or timed out; `consecutive` counts this peer's failures since its last answer.
   * The node's connection heartbeat: it drops a peer that stays silent.
   */
  onPingFailure?: (peerId: PeerId, consecutive: number) => void
}

export interface Pinger {
  /** Stops the loop, aborts pings in flight, and resolves once nothing is left running. */
  stop(): Promise<void>
}

type LatencyRoot = ReturnType<typeof openRoot>
type RootBatch = ReturnType<LatencyRoot['batch']>

function openRoot(db: Database) {
  return db.sublevel('latency')
}

const COORDINATE_KEY = 'coordinate'
const TS_DIGITS = 15
const SEQ_DIGITS = 6

export class LatencyRecorder {
  private readonly peerRecords
  private readonly samples
  private readonly meta
  private readonly root
  private readonly clock: () => number
  private readonly maxSamples: number
  private readonly maxAgeMs: number
  private readonly alpha: number
  private readonly vivaldi: VivaldiOptions
  private readonly cache = new Map<string, PeerState>()
  private readonly pingers = new Set<Pinger>()
  private ownCoordinate: VivaldiCoordinate
  private seq = 0
  /** Writes run one at a time: each is a read-modify-write of a peer's record. */
  private tail: Promise<unknown>

  constructor(init: LatencyRecorderInit) {
    this.root = openRoot(init.db)
    this.peerRecords = this.root.sublevel<string, PeerRecord>('peers', { valueEncoding: 'json' })
    this.samples = this.root.sublevel<string, number>('samples', { valueEncoding: 'json' })
    this.meta = this.root.sublevel<string, VivaldiCoordinate>('meta', { valueEncoding: 'json' })
    this.clock = init.clock ?? Date.now
    this.maxSamples = init.retention?.maxSamplesPerKind ?? DEFAULT_MAX_SAMPLES_PER_KIND
    this.maxAgeMs = init.retention?.maxAgeMs ?? DEFAULT_MAX_SAMPLE_AGE_MS
    this.alpha = init.throughputAlpha ?? DEFAULT_THROUGHPUT_EWMA_ALPHA
    this.vivaldi = init.vivaldi ?? {}
    if (!(this.maxSamples >= 1) || !(this.maxAgeMs > 0) || !(this.alpha > 0 && this.alpha <= 1)) {
      throw new BwnodeError(ERR.CONFIG, 'latency retention and EWMA alpha must be positive (alpha at most 1)')
    }
    this.ownCoordinate = originCoordinate(this.vivaldi)
    this.tail = this.loadCoordinate()
  }

  /** Resolves once the stored coordinate is loaded; rejects if the database cannot be read. */
  async ready(): Promise<void> {
    await this.tail
  }

  /** This node's Vivaldi coordinate (loaded from the database; see `ready()`). */
  get coordinate(): VivaldiCoordinate {
    return { ...this.ownCoordinate }
  }

  /**
   * A round-trip time to `peerId`. With the remote's coordinate, also moves this
   * node's Vivaldi coordinate (persisted with the sample).
   */
  async recordRtt(peerId: PeerId | string, ms: number, remoteCoordinate?: VivaldiCoordinate): Promise<void> {
    assertSample(ms, 'rtt')
    const remote = remoteCoordinate === undefined ? undefined : parseCoordinate(remoteCoordinate)
    return this.record(
      String(peerId),
      'rtt',
      ms,
      remote !== undefined && ms > 0 ? { remote, rttMs: ms } : undefined,
    )
  }

  /** Time from sending a request to the first byte of the answer (ms). */
  async recordTtfb(peerId: PeerId | string, ms: number): Promise<void> {
    assertSample(ms, 'ttfb')
    return this.record(String(peerId), 'ttfb', ms)
  }

  /** Time to open a connection (dial + handshakes) to the peer (ms). */
  async recordConnectSetup(peerId: PeerId | string, ms: number): Promise<void> {
    assertSample(ms, 'connect')
    return this.record(String(peerId), 'connect', ms)
  }

  /** One finished transfer: `bytes` received in `seconds`. Feeds the throughput EWMA (MB/s). */
  async recordTransfer(peerId: PeerId | string, bytes: number, seconds: number): Promise<void> {
    if (!(Number.isFinite(bytes) && bytes >= 0 && Number.isFinite(seconds) && seconds > 0)) {
      throw new BwnodeError(
        ERR.INVALID_LATENCY,
        `a transfer needs bytes >= 0 and seconds > 0, got ${bytes} B in ${seconds} s`,
      )
    }
    return this.record(String(peerId), 'transfer', bytes / 1e6 / seconds)
  }

  async summary(peerId: PeerId | string): Promise<PeerLatencySummary | undefined> {
    const id = String(peerId)
    await this.settled()
    const state = await this.load(id)
    return state === undefined ? undefined : summarize(id, state)
  }

  /** Summaries of every peer with a record, most recently seen first. */
  async peers(): Promise<PeerLatencySummary[]> {
    await this.settled()
    const out: PeerLatencySummary[] = []
    for await (const [id, record] of this.peerRecords.iterator()) {
      out.push(summarize(id, this.cache.get(id) ?? fromRecord(record)))
    }
    return out.sort((a, b) => (b.lastSeen ?? 0) - (a.lastSeen ?? 0))
  }

  /**
   * The newest raw samples of one kind for a peer, at most `limit`, oldest first (ms; MB/s for
   * 'transfer'): an RTT history for the dashboard's peer view. Only what retention kept.
   */
  async recent(
    peerId: PeerId | string,
    kind: SampleKind,
    limit: number,
  ): Promise<Array<{ time: number; value: number }>> {
    await this.settled()
    const prefix = `${String(peerId)}!${kind}!`
    const out: Array<{ time: number; value: number }> = []
    for await (const [key, value] of this.samples.iterator({
      gte: prefix,
      lt: `${prefix}~`,
      reverse: true,
      limit,
    })) {
      out.push({ time: sampleTime(key), value })
    }
    return out.reverse()
  }

  /**
   * A copy of the window histogram of one kind for a peer (ms; MB/s for
   * 'transfer'), for reports that merge across peers or runs.
   */
  async histogram(peerId: PeerId | string, kind: SampleKind): Promise<LatencyHistogram | undefined> {
    await this.settled()
    return (await this.load(String(peerId)))?.kinds[kind].hist.clone()
  }

  /** Drop samples past the age limit for every peer (sampling prunes only the peer it touches). */
  prune(): Promise<void> {
    return this.enqueue(async () => {
      const ids: string[] = []
      for await (const id of this.peerRecords.keys()) ids.push(id)
      for (const id of ids) {
        const state = await this.load(id)
        if (state === undefined) continue
        const batch = this.root.batch()
        let changed = false
        for (const kind of KINDS) changed = (await this.pruneKind(id, kind, state, batch)) || changed
        if (changed) {
          batch.put(id, toRecord(state), { sublevel: this.peerRecords })
          await batch.write()
        } else {
          await batch.close()
        }
      }
    })
  }

  /**
   * Ping every connected peer each `intervalMs` with libp2p's ping service and
   * record the RTTs. Pings of one round run in parallel; a failed or timed-out
   * ping is recorded as nothing and reported to `onPingFailure`. `stop()` (or
   * `close()`) ends it without leaving timers.
   */
  startPinging(node: PingableNode, intervalMs: number, options: PingOptions = {}): Pinger {
    if (!(intervalMs > 0))
      throw new BwnodeError(ERR.CONFIG, `ping interval must be > 0 ms, got ${intervalMs}`)
    const controller = new AbortController()
    const timeoutMs = options.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS
    const failures = new Map<string, number>()
    const loop = (async () => {
      while (!controller.signal.aborted) {
        const peers = new Map<string, PeerId>()
        for (const conn of node.getConnections()) peers.set(conn.remotePeer.toString(), conn.remotePeer)
        for (const id of failures.keys()) if (!peers.has(id)) failures.delete(id)
        await Promise.allSettled(
          [...peers.values()].map(async (peer) => {
            const answered = await this.pingOnce(node, peer, timeoutMs, controller.signal, options)
            const id = peer.toString()
            if (answered || controller.signal.aborted) {
              failures.delete(id)
              return
            }
            const consecutive = (failures.get(id) ?? 0) + 1
            failures.set(id, consecutive)
            options.onPingFailure?.(peer, consecutive)
          }),
        )
        try {
          await sleep(intervalMs, undefined, { signal: controller.signal })
        } catch {
          break
        }
      }
    })()
    const pinger: Pinger = {
      stop: async () => {
        controller.abort()
        await loop
        this.pingers.delete(pinger)
      },
    }
    this.pingers.add(pinger)
    return pinger
  }

  /** Stops any pingers and waits for pending writes. The database stays open (it is the caller's). */
  async close(): Promise<void> {
    await Promise.all([...this.pingers].map((p) => p.stop()))
    await this.settled()
  }

  private async pingOnce(
    node: PingableNode,
    peer: PeerId,
    timeoutMs: number,
    stopSignal: AbortSignal,
    options: PingOptions,
  ): Promise<boolean> {
    const controller = new AbortController()
    const onStop = () => controller.abort()
    stopSignal.addEventListener('abort', onStop, { once: true })
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      const rtt = await node.services.ping.ping(peer, { signal: controller.signal })
      if (Number.isFinite(rtt))
        await this.recordRtt(peer, rtt, rtt > 0 ? options.coordinateOf?.(peer) : undefined)
      return true
    } catch (err) {
      // A peer without the ping protocol answered the negotiation: alive, just not measured.
      if ((err as Error).name === 'UnsupportedProtocolError') return true
      if (!stopSignal.aborted) log('ping %p failed: %s', peer, (err as Error).message)
      return false
    } finally {
      clearTimeout(timer)
      stopSignal.removeEventListener('abort', onStop)
    }
  }

  private record(
    id: string,
    kind: SampleKind,
    value: number,
    vivaldi?: { remote: VivaldiCoordinate; rttMs: number },
  ): Promise<void> {
    return this.enqueue(async () => {
      const now = this.clock()
      const state = (await this.load(id)) ?? emptyState(now)
      const slot = state.kinds[kind]
      const batch = this.root.batch()

      batch.put(sampleKey(id, kind, now, this.seq++ % 10 ** SEQ_DIGITS), value, { sublevel: this.samples })
      slot.hist.record(value)
      slot.encoded = undefined
      slot.count++
      slot.oldest ??= now
      state.lastSeen = Math.max(state.lastSeen, now)
      if (kind === 'transfer') {
        state.throughputMBps =
          state.throughputMBps === null ? value : this.alpha * value + (1 - this.alpha) * state.throughputMBps
      }
      await this.pruneKind(id, kind, state, batch)
      batch.put(id, toRecord(state), { sublevel: this.peerRecords })

      let coordinate: VivaldiCoordinate | undefined
      if (vivaldi !== undefined) {
        coordinate = updateCoordinate(this.ownCoordinate, vivaldi.remote, vivaldi.rttMs, this.vivaldi)
        batch.put(COORDINATE_KEY, coordinate, { sublevel: this.meta })
      }
      await batch.write()
      this.cache.set(id, state)
      if (coordinate !== undefined) this.ownCoordinate = coordinate
    })
  }

  /**
   * Queue deletes for samples of one kind past the count or age limit, and take
   * them out of the window histogram. A sample being recorded in `batch` is
   * already counted in `state` but not stored yet; being the newest, it is never
   * the one pruned. Returns whether anything was pruned.
   */
  private async pruneKind(
    id: string,
    kind: SampleKind,
    state: PeerState,
    batch: RootBatch,
  ): Promise<boolean> {
    const slot = state.kinds[kind]
    const cutoff = this.clock() - this.maxAgeMs
    const tooMany = slot.count > this.maxSamples
    const tooOld = slot.oldest !== null && slot.oldest < cutoff
    if (!tooMany && !tooOld) return false

    const removed = new LatencyHistogram({ ticksPerUnit: slot.hist.ticksPerUnit })
    const prefix = `${id}!${kind}!`
    let oldest: number | null = null
    for await (const [key, value] of this.samples.iterator({ gte: prefix, lt: `${prefix}~` })) {
      const ts = sampleTime(key)
      if (slot.count > this.maxSamples || ts < cutoff) {
        batch.del(key, { sublevel: this.samples })
        removed.record(value)
        slot.count--
        continue
      }
      oldest = ts
      break
    }
    // Every stored sample went: what is left is the pending one, stamped now.
    if (oldest === null && slot.count > 0) oldest = this.clock()
    slot.oldest = slot.count > 0 ? oldest : null
    slot.hist.subtract(removed)
    if (removed.count > 0) slot.encoded = undefined
    return removed.count > 0
  }

  private async load(id: string): Promise<PeerState | undefined> {
    const cached = this.cache.get(id)
    if (cached !== undefined) return cached
    const record = await this.peerRecords.get(id)
    if (record === undefined) return undefined
    const state = fromRecord(record)
    this.cache.set(id, state)
    return state
  }

  private async loadCoordinate(): Promise<void> {
    const stored = await this.meta.get(COORDINATE_KEY)
    if (stored === undefined) return
    try {
      this.ownCoordinate = parseCoordinate(stored)
    } catch {
      log('stored Vivaldi coordinate is malformed; starting from the origin')
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn)
    // A failed write must not block the ones after it; the caller still sees its error.
    this.tail = run.catch(() => {})
    return run
  }

  private async settled(): Promise<void> {
    await this.tail.catch(() => {})
  }
}

function assertSample(ms: number, kind: SampleKind): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new BwnodeError(ERR.INVALID_LATENCY, `${kind} sample must be a finite number >= 0 ms, got ${ms}`)
  }
}

function sampleKey(id: string, kind: SampleKind, ts: number, seq: number): string {
  return `${id}!${kind}!${String(Math.max(0, Math.floor(ts))).padStart(TS_DIGITS, '0')}!${String(seq).padStart(SEQ_DIGITS, '0')}`
}

function sampleTime(key: string): number {
  const parts = key.split('!')
  return Number(parts[parts.length - 2])
}

function emptyState(now: number): PeerState {
  const kinds = {} as PeerState['kinds']
  for (const kind of KINDS) kinds[kind] = { hist: new LatencyHistogram(), count: 0, oldest: null }
  return { lastSeen: now, throughputMBps: null, kinds }
}

function toRecord(state: PeerState): PeerRecord {
  const kinds = {} as PeerRecord['kinds']
  for (const kind of KINDS) {
    const slot = state.kinds[kind]
    slot.encoded ??= slot.hist.encode()
    kinds[kind] = { hist: slot.encoded, count: slot.count, oldest: slot.oldest }
  }
  return { lastSeen: state.lastSeen, throughputMBps: state.throughputMBps, kinds }
}

function fromRecord(record: PeerRecord): PeerState {
  const kinds = {} as PeerState['kinds']
  for (const kind of KINDS) {
    const slot = record.kinds?.[kind]
    let hist: LatencyHistogram
    let encoded: string | undefined
    try {
      hist = slot === undefined ? new LatencyHistogram() : LatencyHistogram.decode(slot.hist)
      encoded = slot?.hist
    } catch {
      hist = new LatencyHistogram()
    }
    kinds[kind] = {
      hist,
      count: slot?.count ?? 0,
      oldest: slot?.oldest ?? null,
      ...(encoded === undefined ? {} : { encoded }),
    }
  }
  return { lastSeen: record.lastSeen, throughputMBps: record.throughputMBps ?? null, kinds }
}

function windowStats(hist: LatencyHistogram): WindowStats {
  return { p50: hist.percentile(50), p90: hist.percentile(90), p99: hist.percentile(99), samples: hist.count }
}

function summarize(peerId: string, state: PeerState): PeerLatencySummary {
  return {
    peerId,
    rttMs: windowStats(state.kinds.rtt.hist),
    ttfbMs: windowStats(state.kinds.ttfb.hist),
    connectSetupMs: windowStats(state.kinds.connect.hist),
    throughputMBps: state.throughputMBps,
    transfers: state.kinds.transfer.count,
    lastSeen: state.lastSeen,
  }
}
