/**
 * The consumers of the experiment: what a training job, a shard reader, a token streamer and a
 * staging job do with a source of chunks, and what they measure.
 *
 * Every source is a set of lanes (the local store, or one chunk-protocol session per provider).
 * Lanes pull the next item in consumer order, so a fast provider serves more than a slow one and
 * nobody has to guess rates in advance. The consumer takes items strictly in order; with a target
 * rate it spends size / rate seconds "computing" on each, and any time it waits for an item that
 * has not arrived is a stall. A prefetch depth bounds how far ahead of the consumer lanes may read,
 * as a data loader's prefetch queue does.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { errorMessage } from '../errors/index.ts'
import {
  DEFAULT_JOIN_GRACE_MS,
  DEFAULT_MANIFEST_HEDGE_MS,
  DEFAULT_MIN_CHUNK_TIMEOUT_MS,
} from '../fetch/constants.ts'
import { Fetcher } from '../fetch/fetcher.ts'
import type { FetchEnvironment, FetchResult, ProviderHint } from '../fetch/types.ts'
import { LatencyHistogram } from '../latency/histogram.ts'
import { payingSession, type SessionPayer } from '../node/payments.ts'
import { ChunkSession } from '../protocols/chunk/client.ts'
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MESSAGE_TIMEOUT_MS,
  DEFAULT_RESPONSE_TIMEOUT_MS,
} from '../protocols/chunk/constants.ts'
import { parseChunkCid } from '../store/cid.ts'
import type { ContentStore } from '../store/content-store.ts'
import type { Manifest } from '../store/manifest.ts'

/** One unit the consumer takes: a sample file (W1) or one chunk of a shard or token stream. */
export interface ReadItem {
  keys: string[]
  bytes: number
}

/** Where chunks come from: the local store or one provider's session, with its own request window. */
export interface Lane {
  label: string
  /** 'origin' bytes count as taken off the origin; 'peer' and 'local' bytes do not. */
  kind: 'local' | 'peer' | 'origin'
  concurrency: number
  /** What the provider offers (its uplink), bytes/s: the lane's rate until it has delivered. */
  expectedBytesPerSec?: number
  read(key: string): Promise<Uint8Array>
  /** performance.now() of the first response byte this lane received, when it can tell. */
  firstByteAt?(): number | undefined
}

export interface ConsumeOptions {
  items: ReadItem[]
  lanes: Lane[]
  /** Items lanes may read ahead of the consumer; default: every lane slot. */
  prefetchDepth?: number
  /** Consumption rate in bytes/s; undefined = consume as fast as items arrive. */
  targetBytesPerSec?: number
  /** Multiplies every recorded latency (1 / K under time dilation K); default 1. */
  latencyScale?: number
  /**
   * A lane whose source fails is dropped and its items read from the others (churn cells). Off,
   * the first failed read fails the run, so a source lost to machine load is retried, not hidden.
   */
  failover?: boolean
}

export interface ConsumeMeasure {
  seconds: number
  bytes: number
  /** From start to the first response byte of any lane (the first whole item where lanes cannot tell). */
  ttfbMs: number
  /** From start to the arrival of the first whole item the consumer needs. */
  firstChunkMs: number
  /** Steady-state rate, bytes/s: see middleRate(). */
  steadyBytesPerSec: number | undefined
  /** Per-chunk request latency, ms. */
  histogram: LatencyHistogram
  /** Time the consumer spent waiting for data, s. */
  stallSeconds: number
  bytesByKind: { local: number; peer: number; origin: number }
  /** Lanes whose source failed during the run (their items went to the others), and when, ms. */
  lostLanes: Array<{ label: string; atMs: number; reason: string }>
}

interface Slot {
  /** performance.now() when the item's last byte arrived. */
  arrivedAt: number
  promise: Promise<void>
  resolve(): void
  reject(err: unknown): void
  done: boolean
}

function slot(): Slot {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { arrivedAt: 0, promise, resolve, reject, done: false }
}

/** Within this factor of the best lane's estimated delivery time, a lane may take the next item. */
const LANE_SLACK = 1.5

/**
 * What a lane has delivered so far, to estimate when it would deliver one more item. The same
 * earliest-finish-time rule as the fetcher's scheduler: without it a slow home uplink takes an
 * item in its turn and the in-order consumer waits for it, however fast the others are.
 */
class LaneState {
  inFlightBytes = 0
  /** Its source failed: it takes nothing more, its items go back to the others. */
  dead = false
  private readonly priorBytesPerMs: number | undefined
  /** Completions the rate is measured over: one round of the lane's requests. */
  private readonly window: number
  private readonly recent: Array<{ at: number; bytes: number }> = []
  private completions = 0
  private firstTakenAt: number | undefined
  /** The shortest time from taking an item to having it, ms: the lane's round trip and one item. */
  private floorMs: number | undefined

  constructor(expectedBytesPerSec: number | undefined, concurrency: number) {
    this.priorBytesPerMs = expectedBytesPerSec === undefined ? undefined : expectedBytesPerSec / 1000
    this.window = Math.max(8, concurrency)
  }

  take(bytes: number): void {
    this.firstTakenAt ??= performance.now()
    this.inFlightBytes += bytes
  }

  complete(bytes: number, at: number, takenAt: number): void {
    this.inFlightBytes -= bytes
    this.completions++
    this.floorMs = Math.min(this.floorMs ?? Number.POSITIVE_INFINITY, at - takenAt)
    this.recent.push({ at, bytes })
    if (this.recent.length > this.window) this.recent.shift()
  }

  /**
   * Delivered bytes per ms over the last `window` completions. From the gaps between completions
   * once there are two (the first item's wait includes a round trip and would make a far, fast
   * lane look slow), else from the first item alone. Recent, not cumulative: a fresh stream's
   * slow start leaves the estimate after a round instead of weighing on it for the whole run.
   */
  rate(): number | undefined {
    const first = this.recent[0]
    if (this.firstTakenAt === undefined || first === undefined) return this.priorBytesPerMs
    const last = this.recent[this.recent.length - 1] as { at: number; bytes: number }
    const streaming = last.at - first.at
    if (streaming > 0) {
      let bytes = 0
      for (let i = 1; i < this.recent.length; i++) bytes += (this.recent[i] as { bytes: number }).bytes
      return bytes / streaming
    }
    // one completion says little (its wait holds a round trip): keep the offered rate if known
    if (this.priorBytesPerMs !== undefined) return this.priorBytesPerMs
    const wait = first.at - this.firstTakenAt
    return wait > 0 ? first.bytes / wait : undefined
  }

  /**
   * What a fast lane may still reach, bytes per ms: the higher of the measured and the offered
   * rate while the lane is young (two rounds: the second is measured without the first's slow
   * start), then what it measurably delivers. A fresh stream's first
   * completions come while its window is still growing; judged by them, a fast origin looks slow
   * and the home peers beside it are handed items it would have delivered sooner (they carried
   * 54-65% of a sequential read whose capacity share was 28%). But an origin whose window or
   * round trip, not its uplink, is the limit never reaches its offer: trusted for the whole run,
   * the offer left the peers beside it idle (6% of random samples where they had 70% of the
   * capacity, and origin plus peers slower than the peers alone).
   */
  upperRate(): number | undefined {
    const measured = this.rate()
    if (measured === undefined) return this.priorBytesPerMs
    if (this.priorBytesPerMs === undefined || this.completions >= 2 * this.window) return measured
    return Math.max(measured, this.priorBytesPerMs)
  }

  /** The lane's latency floor, ms (0 until it has delivered). */
  latencyFloorMs(): number {
    return this.floorMs ?? 0
  }

  /**
   * When one more item of `bytes` would be here, ms from now: after what the lane already has in
   * flight at its rate, and never sooner than its latency floor (a distant origin's round trip is
   * paid by every item the in-order reader waits for, however fast its uplink).
   * `fallbackRate` stands in for a lane with no history yet (the fastest rate seen so far).
   */
  etaMs(bytes: number, fallbackRate: number): number {
    return Math.max(this.latencyFloorMs(), (this.inFlightBytes + bytes) / (this.rate() ?? fallbackRate))
  }
}

/**
 * Which item a lane takes next, or undefined to wait. A lane within LANE_SLACK of the best
 * estimated delivery time takes the first unassigned item, as the consumer needs them in order. A
 * slower lane (a home uplink beside an origin) is not idle: it takes the first unassigned item
 * that the consumer will not need before this lane can deliver it, judged by the bytes ahead of
 * that item and the lanes' combined rate (earliest deadline first), so its capacity adds to the
 * others' instead of holding up the item at the front.
 */
function pickItem(
  state: LaneState,
  all: LaneState[],
  items: ReadItem[],
  owner: Array<LaneState | undefined>,
  from: number,
  limit: number,
): number | undefined {
  let first = from
  while (first < limit && owner[first] !== undefined) first++
  if (first >= limit) return undefined
  const bytes = (items[first] as ReadItem).bytes
  let fastest: number | undefined
  for (const lane of all) {
    const rate = lane.rate()
    if (rate !== undefined && (fastest === undefined || rate > fastest)) fastest = rate
  }
  // Until some lane has delivered, each lane takes one item at a time: that measures the rates.
  if (fastest === undefined || state.rate() === undefined)
    return state.inFlightBytes === 0 ? first : undefined
  const myRate = state.rate() as number
  if (myRate * LANE_SLACK >= fastest) {
    // a lane about as fast as the fastest: the front item, unless another would finish it much sooner
    const mine = state.etaMs(bytes, fastest)
    let best = mine
    for (const other of all) best = Math.min(best, other.etaMs(bytes, fastest))
    return mine <= best * LANE_SLACK ? first : undefined
  }
  // A slow lane: the first unassigned item it delivers before the fast lanes, at their combined
  // rate, would have delivered what is ahead of it and not already held by a slow lane.
  // The fast lanes at the most they may reach: a slow lane takes only what it delivers before them
  // even then, so adding it never delays the in-order consumer.
  // They deliver nothing sooner than their latency floor either, so an item near the front goes
  // to a slower lane with a short round trip when that lane has it here first.
  let fastRate = 0
  let fastFloorMs = Number.POSITIVE_INFINITY
  for (const lane of all) {
    const rate = lane.rate()
    if (rate !== undefined && rate * LANE_SLACK >= fastest) {
      fastRate += lane.upperRate() ?? rate
      fastFloorMs = Math.min(fastFloorMs, lane.latencyFloorMs())
    }
  }
  let ahead = 0
  for (let j = from; j < limit; j++) {
    const item = items[j] as ReadItem
    const held = owner[j]
    if (held === undefined) {
      if (state.etaMs(item.bytes, fastest) <= Math.max(fastFloorMs, ahead / fastRate)) return j
      ahead += item.bytes
    } else if ((held.rate() ?? 0) * LANE_SLACK >= fastest) {
      ahead += item.bytes
    }
  }
  return undefined
}

/** Runs one consumer over `items` and returns what it measured. Rejects on the first failed read. */
export async function consume(options: ConsumeOptions): Promise<ConsumeMeasure> {
  const { items, lanes } = options
  const totalSlots = lanes.reduce((sum, lane) => sum + lane.concurrency, 0)
  const depth = Math.max(1, options.prefetchDepth ?? totalSlots)
  const histogram = new LatencyHistogram()
  const latencyScale = options.latencyScale ?? 1
  const bytesByKind = { local: 0, peer: 0, origin: 0 }
  const slots = items.map(() => slot())
  const owner: Array<LaneState | undefined> = items.map(() => undefined)
  /** Every item before this one is assigned. */
  let firstUnassigned = 0
  let consumed = 0
  let failure: unknown
  const progressWaiters: Array<() => void> = []
  const wakeLanes = (): void => {
    for (const wake of progressWaiters.splice(0)) wake()
  }

  const started = performance.now()
  let firstByteAt: number | undefined
  const states = new Map(
    lanes.map((lane) => [lane, new LaneState(lane.expectedBytesPerSec, lane.concurrency)]),
  )
  /** The lanes still alive; a lane whose source fails leaves it. */
  let allStates = [...states.values()]
  const lostLanes: ConsumeMeasure['lostLanes'] = []
  const worker = async (lane: Lane): Promise<void> => {
    const state = states.get(lane)!
    while (failure === undefined && !state.dead) {
      while (firstUnassigned < items.length && owner[firstUnassigned] !== undefined) firstUnassigned++
      if (firstUnassigned >= items.length) return
      const limit = Math.min(items.length, consumed + depth)
      const index = pickItem(state, allStates, items, owner, consumed, limit)
      if (index === undefined) {
        await new Promise<void>((resolve) => progressWaiters.push(resolve))
        continue
      }
      owner[index] = state
      const item = items[index]!
      const takenAt = performance.now()
      state.take(item.bytes)
      try {
        await Promise.all(
          item.keys.map(async (key) => {
            const sent = performance.now()
            const bytes = await lane.read(key)
            const now = performance.now()
            if (index === 0) firstByteAt ??= now
            histogram.record(Math.max((now - sent) * latencyScale, 0.001))
            bytesByKind[lane.kind] += bytes.byteLength
          }),
        )
        slots[index]!.arrivedAt = performance.now()
        slots[index]!.done = true
        slots[index]!.resolve()
        state.complete(item.bytes, slots[index]!.arrivedAt, takenAt)
        // A finished item changes every lane's estimate: let waiting lanes look again.
        wakeLanes()
      } catch (err) {
        if (options.failover === true && !state.dead && allStates.length > 1) {
          // A source that fails (a peer gone, its connection reset) loses its lane, as a real
          // reader would drop it: its item goes back to the others, who finish the read.
          state.dead = true
          allStates = allStates.filter((x) => x !== state)
          lostLanes.push({ label: lane.label, atMs: performance.now() - started, reason: errorMessage(err) })
        }
        if (state.dead && allStates.length > 0) {
          owner[index] = undefined
          firstUnassigned = Math.min(firstUnassigned, index)
        } else {
          failure ??= err
          for (const s of slots) if (!s.done) s.reject(err)
        }
        wakeLanes()
      }
    }
  }
  // Start workers round-robin over lanes, so the first items spread over every provider instead of
  // all going to the first lane's window.
  const workers: Promise<void>[] = []
  const widest = Math.max(0, ...lanes.map((lane) => lane.concurrency))
  for (let w = 0; w < widest; w++) {
    for (const lane of lanes) if (w < lane.concurrency) workers.push(worker(lane))
  }

  // The consumer's own timeline is kept in virtual time (consumerFree): an item that arrived before
  // the consumer was free costs no stall, even if the timer that paces consumption woke up late.
  let consumerFree = started
  let stallMs = 0
  let bytes = 0
  for (let i = 0; i < items.length; i++) {
    const s = slots[i]!
    if (!s.done) await s.promise
    if (s.arrivedAt > consumerFree) {
      stallMs += s.arrivedAt - consumerFree
      consumerFree = s.arrivedAt
    }
    const item = items[i]!
    bytes += item.bytes
    if (options.targetBytesPerSec !== undefined) {
      consumerFree += (item.bytes / options.targetBytesPerSec) * 1000
      const wait = consumerFree - performance.now()
      if (wait > 0) await sleep(wait)
    }
    consumed = i + 1
    wakeLanes()
  }
  const ended = options.targetBytesPerSec !== undefined ? consumerFree : performance.now()
  await Promise.allSettled(workers)
  if (failure !== undefined) throw failure
  const firstChunkAt = firstByteAt ?? ended
  let firstResponseByteAt: number | undefined
  for (const lane of lanes) {
    const at = lane.firstByteAt?.()
    if (at !== undefined && (firstResponseByteAt === undefined || at < firstResponseByteAt))
      firstResponseByteAt = at
  }
  const lastArrival = Math.max(firstChunkAt, ...slots.map((s) => s.arrivedAt))
  const steady = middleRate(slots.map((s, i) => [s.arrivedAt, (items[i] as ReadItem).bytes]))
  return {
    seconds: (ended - started) / 1000,
    bytes,
    ttfbMs: Math.min(firstResponseByteAt ?? firstChunkAt, firstChunkAt) - started,
    firstChunkMs: firstChunkAt - started,
    steadyBytesPerSec: lastArrival > firstChunkAt ? steady : undefined,
    histogram,
    // The first item can only be waited for: count it as a stall like any other wait.
    stallSeconds: stallMs / 1000,
    bytesByKind,
    lostLanes,
  }
}

/**
 * The steady-state rate of a transfer: the bytes that arrived between the moments 10% and 90% of
 * all bytes had arrived, over that time, bytes/s. Start-up (first round trips, a window still
 * growing) and the tail (the last chunks of the slowest source) stay out of it, with one source or
 * many (several sources' first chunks arrive together: counting from the first one would
 * overstate it).
 */
export function middleRate(arrivals: Array<[at: number, bytes: number]>): number | undefined {
  const sorted = arrivals.filter(([at]) => at > 0).sort((a, b) => a[0] - b[0])
  const total = sorted.reduce((sum, [, bytes]) => sum + bytes, 0)
  if (sorted.length < 3 || total === 0) return undefined
  let cumulative = 0
  let t10: number | undefined
  let b10 = 0
  for (const [at, bytes] of sorted) {
    cumulative += bytes
    if (t10 === undefined && cumulative >= 0.1 * total) {
      t10 = at
      b10 = cumulative
    } else if (t10 !== undefined && cumulative >= 0.9 * total) {
      return at > t10 ? (cumulative - b10) / ((at - t10) / 1000) : undefined
    }
  }
  return undefined
}

// ---------- items from manifests ----------

/** Each file of the manifest is one item (a training sample), in a seeded random order. */
export function sampleItems(manifest: Manifest, random: () => number): ReadItem[] {
  const items = manifest.files.filter((f) => f.size > 0).map((f) => ({ keys: f.chunks, bytes: f.size }))
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/** Every chunk of every file in file order: a sequential read. `limit` keeps the first n. */
export function sequentialItems(manifest: Manifest, limit = Number.POSITIVE_INFINITY): ReadItem[] {
  const items: ReadItem[] = []
  for (const file of manifest.files) {
    file.chunks.forEach((key, index) => {
      const bytes = Math.min(manifest.chunkSize, file.size - index * manifest.chunkSize)
      if (items.length < limit) items.push({ keys: [key], bytes })
    })
  }
  return items
}

// ---------- lanes ----------

export function storeLane(store: ContentStore, concurrency: number): Lane {
  return {
    label: 'local store',
    kind: 'local',
    concurrency,
    read: async (key) => {
      const bytes = await store.getChunk(key)
      if (bytes === undefined) throw new Error(`local store lacks chunk ${key}`)
      return bytes
    },
  }
}

interface Dialer {
  dialProtocol(
    peer: PeerId,
    protocols: string,
    options?: { signal?: AbortSignal },
  ): Promise<import('@libp2p/interface').Stream>
}

function stretchedTimeouts(factor: number) {
  return {
    responseTimeoutMs: DEFAULT_RESPONSE_TIMEOUT_MS * factor,
    messageTimeoutMs: DEFAULT_MESSAGE_TIMEOUT_MS * factor,
    drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS * factor,
  }
}

/**
 * Paying providers as a node does (real peers charge; the emulated lab's are free): vouchers for
 * every verified chunk, on a channel opened at the price the provider quotes for `datasetCid`.
 */
export interface LanePayment {
  payer: SessionPayer
  datasetCid: CID
}

/** Asks the provider's price (HAVE) and opens the payment channel at it, before the first read. */
async function openChannel(session: ChunkSession, peer: PeerId, payment: LanePayment): Promise<void> {
  const { pricePerGiB } = await session.have(payment.datasetCid)
  await payment.payer.quote(peer, pricePerGiB)
}

/** Closes a session once the vouchers being signed for its chunks have gone out on it. */
async function closePaid(session: ChunkSession, payment: LanePayment | undefined): Promise<void> {
  if (payment !== undefined) await payment.payer.settled(session.peerId)
  await session.close()
}

/** Opens one chunk-protocol session per provider (paying them with `payment`); close them with the returned close(). */
export async function sessionLanes(
  libp2p: Dialer,
  providers: Array<{ peerId: PeerId; kind: 'peer' | 'origin'; label: string; expectedBytesPerSec?: number }>,
  inFlight: number,
  /** Under time dilation K the client's timeouts stretch K times. */
  timeScale = 1,
  payment?: LanePayment,
): Promise<{ lanes: Lane[]; close(): Promise<void> }> {
  const sessions: ChunkSession[] = []
  const firstBytes: Array<number | undefined> = providers.map(() => undefined)
  try {
    // opened at once: each open is a protocol negotiation, a round trip or two
    const opened = await Promise.allSettled(
      providers.map(async (p, i) => {
        const session = await ChunkSession.open(libp2p, p.peerId, {
          maxInFlight: inFlight,
          ...stretchedTimeouts(timeScale),
          onChunk: (_from, _cid, _bytes, timing) => {
            const at = performance.now() - timing.totalMs + timing.ttfbMs
            if (firstBytes[i] === undefined || at < (firstBytes[i] as number)) firstBytes[i] = at
          },
          ...(payment === undefined
            ? {}
            : { makeVoucher: (peer: PeerId, bytes: number) => payment.payer.voucherFor(peer, bytes) }),
        })
        if (payment !== undefined) {
          try {
            await openChannel(session, p.peerId, payment)
          } catch (err) {
            await session.close().catch(() => {})
            throw err
          }
        }
        return session
      }),
    )
    for (const o of opened) if (o.status === 'fulfilled') sessions.push(o.value)
    const failed = opened.find((o) => o.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  } catch (err) {
    await Promise.allSettled(sessions.map((s) => closePaid(s, payment)))
    throw err
  }
  const lanes = providers.map((p, i): Lane => {
    const session = sessions[i]!
    return {
      label: p.label,
      kind: p.kind,
      concurrency: inFlight,
      ...(p.expectedBytesPerSec === undefined ? {} : { expectedBytesPerSec: p.expectedBytesPerSec }),
      read: (key) => session.get(parseChunkCid(key)),
      firstByteAt: () => firstBytes[i],
    }
  })
  return {
    lanes,
    close: async () => {
      await Promise.allSettled(sessions.map((s) => closePaid(s, payment)))
    },
  }
}

// ---------- staging (W4) through the real Fetcher ----------

export interface StageProvider {
  peerId: PeerId
  kind: 'peer' | 'origin'
  rttMs: number
  /** The provider's advertised uplink, bytes/s, as a node learns it from the provider's offer. */
  offeredBytesPerSec?: number
}

export interface StageMeasure {
  result: FetchResult
  histogram: LatencyHistogram
  /** From the start to the first byte of the first chunk. */
  ttfbMs: number
  /** From the start to the first whole chunk. */
  firstChunkMs: number
  /** Steady-state rate, bytes/s: see middleRate(). */
  steadyBytesPerSec: number | undefined
  originBytes: number
  peerBytes: number
}

/**
 * W4's local baseline: copies a dataset from one local store into another, chunk by chunk through
 * the consumer, as staging writes what it fetched. Seconds count from the manifest read to the
 * dataset marked complete.
 */
export async function stageFromStore(
  source: ContentStore,
  destination: ContentStore,
  cid: CID,
  manifest: Manifest,
  inFlight: number,
): Promise<{ seconds: number; measure: ConsumeMeasure }> {
  const started = performance.now()
  const manifestBytes = await source.getManifestBytes(cid)
  if (manifestBytes === undefined) throw new Error(`the local store lacks the manifest of ${cid.toString()}`)
  await destination.putManifest(manifestBytes, cid)
  const read = storeLane(source, inFlight)
  const copy: Lane = {
    ...read,
    read: async (key) => {
      const bytes = await read.read(key)
      await destination.putChunk(key, bytes)
      return bytes
    },
  }
  const measure = await consume({ items: sequentialItems(manifest), lanes: [copy] })
  await destination.markComplete(cid)
  return { seconds: (performance.now() - started) / 1000, measure }
}

/**
 * Stages a whole dataset into `store` with the node's Fetcher and multi-source scheduler. Providers
 * are handed over directly, or found by `discovery` inside the fetch (scheduling cells); their hint is the RTT the consumer
 * measured with a ping and the uplink their offer advertises, as a node that just connected would
 * know them.
 */
export async function stageWithFetcher(
  self: PeerId,
  libp2p: Dialer,
  store: ContentStore,
  datasetCid: CID,
  providers: StageProvider[],
  inFlight: number,
  latencyScale = 1,
  /** Pays the providers as the node would (real peers charge); their HAVE replies quote the price. */
  payer?: SessionPayer,
  signal?: AbortSignal,
  /** Providers found by a lookup inside the fetch (scheduling cells) instead of handed over. */
  discovery?: { findProviders(signal: AbortSignal): AsyncIterable<PeerId>; timeoutMs: number },
): Promise<StageMeasure> {
  const histogram = new LatencyHistogram()
  const started = performance.now()
  let firstByteAt: number | undefined
  let firstChunkAt: number | undefined
  const arrivals: Array<[number, number]> = []
  const byPeer = new Map(providers.map((p) => [p.peerId.toString(), p]))
  const env: FetchEnvironment = {
    self,
    findProviders:
      discovery === undefined
        ? async function* () {
            for (const p of providers) yield p.peerId
          }
        : (_cid, walkSignal) => discovery.findProviders(walkSignal),
    openSession: async (peer, signal, onTiming) => {
      const session = await ChunkSession.open(libp2p, peer, {
        signal,
        maxInFlight: inFlight,
        ...stretchedTimeouts(1 / latencyScale),
        onChunk: (_from, _cid, bytes, timing) => {
          const now = performance.now()
          firstChunkAt ??= now
          arrivals.push([now, bytes.byteLength])
          const at = now - timing.totalMs + timing.ttfbMs
          if (firstByteAt === undefined || at < firstByteAt) firstByteAt = at
          onTiming(timing.ttfbMs)
          histogram.record(Math.max(timing.totalMs * latencyScale, 0.001))
        },
        ...(payer === undefined
          ? {}
          : { makeVoucher: (p: PeerId, bytes: number) => payer.voucherFor(p, bytes) }),
      })
      if (payer === undefined) return session
      return payingSession(session, payer, () => session.close())
    },
    ...(payer === undefined
      ? {}
      : { afford: (bytes: number, pricePerGiB: number) => payer.assertAffordable(bytes, pricePerGiB) }),
    hint: async (peer): Promise<ProviderHint> => {
      const p = byPeer.get(peer.toString())
      if (p === undefined) return { rttSource: 'unknown' }
      return {
        rttMs: p.rttMs,
        rttSource: 'measured',
        ...(p.offeredBytesPerSec === undefined ? {} : { offeredBytesPerSec: p.offeredBytesPerSec }),
      }
    },
  }
  const result = await new Fetcher(store, env).fetch(datasetCid, {
    ...(signal === undefined ? {} : { signal }),
    maxWindow: inFlight,
    discoveryTimeoutMs: discovery?.timeoutMs ?? 1000,
    // under time dilation K the fetcher's own timers stretch with the links
    minChunkTimeoutMs: DEFAULT_MIN_CHUNK_TIMEOUT_MS / latencyScale,
    manifestHedgeMs: DEFAULT_MANIFEST_HEDGE_MS / latencyScale,
    joinGraceMs: DEFAULT_JOIN_GRACE_MS / latencyScale,
    // The experiment measures what the links can deliver: every provider kept busy.
    localityBias: 0,
  })
  let originBytes = 0
  let peerBytes = 0
  for (const report of result.providers) {
    if (byPeer.get(report.peerId)?.kind === 'origin') originBytes += report.bytes
    else peerBytes += report.bytes
  }
  return {
    result,
    histogram,
    ttfbMs: (firstByteAt ?? performance.now()) - started,
    firstChunkMs: (firstChunkAt ?? performance.now()) - started,
    steadyBytesPerSec: middleRate(arrivals),
    originBytes,
    peerBytes,
  }
}
