import type { CID } from 'multiformats/cid'
import { ERR, isPaymentCode } from '../errors/codes.ts'
import { BwnodeError, errorCode, errorMessage } from '../errors/index.ts'
import {
  DEFAULT_ASSIGN_SLACK,
  DEFAULT_JOIN_GRACE_MS,
  DEFAULT_LOCALITY_BIAS,
  DEFAULT_MAX_BAD_CHUNKS,
  DEFAULT_MAX_FAILURES,
  DEFAULT_MAX_STORE_BACKLOG_BYTES,
  DEFAULT_MIN_CHUNK_TIMEOUT_MS,
  LOCALITY_MAX_COST,
} from './constants.ts'
import { type CpuGauge, EventLoopGauge } from './cpu.ts'
import type { ProviderState } from './provider.ts'

export interface WantedChunk {
  cid: CID
  key: string
  /** Expected size in bytes (from the manifest). */
  size: number
}

export interface SchedulerInit {
  chunks: WantedChunk[]
  /**
   * Stores a verified chunk; the scheduler counts it done only after this resolves. Runs beside
   * the requests: the provider's request slot is free once the bytes arrived.
   */
  deliver(chunk: WantedChunk, bytes: Uint8Array, from: ProviderState): Promise<void>
  /** Bytes handed to deliver() and not yet stored past which no new request starts. */
  maxStoreBacklogBytes?: number
  signal: AbortSignal
  now?: () => number
  assignSlack?: number
  /** How strongly to keep bytes on near providers (see DEFAULT_LOCALITY_BIAS); 0: fastest only. */
  localityBias?: number
  /** Whether this node's CPU is saturated (default: event-loop utilisation); injectable for tests. */
  cpu?: CpuGauge
  minChunkTimeoutMs?: number
  /** The first assignments wait at most this long for providers still joining, ms. */
  joinGraceMs?: number
  maxBadChunks?: number
  maxFailures?: number
  onEvent?(event: SchedulerEvent): void
}

export type SchedulerEvent =
  | { type: 'chunk'; key: string; bytes: number; peer: string }
  | { type: 'drop'; peer: string; reason: string }
  /** The provider's session died under it (connection lost, peer gone): it may come back. */
  | { type: 'lost'; peer: string; reason: string }

interface Assignment {
  provider: ProviderState
  controller: AbortController
  startedAt: number
  /** What the provider's estimate said this request would take, ms. */
  expectedMs: number
}

/**
 * Pulls a set of chunks from several providers at once.
 *
 * Each provider keeps up to `window` requests in flight (sized from its
 * measured rate and RTT). A free slot is filled with the next wanted chunk the
 * provider has, but only if that provider's estimated completion time is within
 * `assignSlack` of the best provider holding the chunk (earliest-finish-time
 * assignment): near, fast providers take most of the work, slower ones take
 * what they can deliver in time. Failures move the chunk to another provider;
 * a provider that sends corrupt chunks or keeps failing is dropped. At the tail
 * (nothing left to assign), idle providers duplicate the oldest outstanding
 * requests (endgame); the first verified copy wins and the other is cancelled.
 *
 * With a locality bias, each provider's share of the bytes is capped at its
 * measured rate divided by a distance premium (1 + bias x its extra RTT over
 * the nearest provider, relative to that RTT). A far provider over its share
 * waits while a nearer one is busy, so the near one takes most of the bytes
 * at a bounded cost in time (LOCALITY_MAX_COST: never slower than the fastest
 * provider alone); with bias 0 every provider is kept busy (fastest).
 */
export class MultiSourceScheduler {
  private readonly init: SchedulerInit
  private readonly now: () => number
  private readonly providers: ProviderState[] = []
  private readonly byKey = new Map<string, WantedChunk>()
  private readonly indexByKey = new Map<string, number>()
  private readonly order: WantedChunk[]
  private readonly pending = new Set<string>()
  /** Expected bytes of the chunks in `pending`. */
  private pendingBytes = 0
  private readonly retry: string[] = []
  private readonly assigned = new Map<string, Assignment[]>()
  private readonly cursor = new Map<ProviderState, number>()
  private discovering = true
  /** Chunks endgameFor() moved from one provider's queue to another's (each moves once). */
  private readonly moved = new Set<string>()
  /** Providers announced by joining() and not yet added. */
  private joiningCount = 0
  /** Lost providers the fetcher is still trying to win back (see rejoining()). */
  private rejoiningCount = 0
  /** now() when the first provider was added. */
  private firstJoinedAt: number | undefined
  private graceTimer: ReturnType<typeof setTimeout> | undefined
  private settled = false
  /** The last provider that refused with ERR_LENDING_CLOSED, and what it said: why a fetch ran dry. */
  private lendingRefusal: { peer: string; message: string } | undefined
  private resolveRun!: () => void
  private rejectRun!: (err: Error) => void
  private readonly finished: Promise<void>
  /** Verified chunks handed to deliver() and not yet stored, and their bytes. */
  private readonly storing = new Set<Promise<void>>()
  private storingBytes = 0
  private readonly maxStoreBacklogBytes: number
  /** Chunks stored, and their bytes. */
  doneBytes = 0
  doneChunks = 0
  /**
   * While this node's event loop is saturated, round trips measure its own CPU, not distance:
   * the locality bias is suspended then (it would hold back providers on noise).
   */
  readonly cpu: CpuGauge
  /** Locality decisions taken, and how many of them were skipped because the CPU was saturated. */
  private localityChecks = 0
  private localitySkipped = 0

  constructor(init: SchedulerInit) {
    this.init = init
    this.now = init.now ?? performance.now.bind(performance)
    this.cpu = init.cpu ?? new EventLoopGauge()
    this.maxStoreBacklogBytes = init.maxStoreBacklogBytes ?? DEFAULT_MAX_STORE_BACKLOG_BYTES
    this.order = init.chunks
    init.chunks.forEach((chunk, index) => {
      this.byKey.set(chunk.key, chunk)
      this.indexByKey.set(chunk.key, index)
      this.pending.add(chunk.key)
      this.pendingBytes += chunk.size
    })
    this.finished = new Promise<void>((resolve, reject) => {
      this.resolveRun = resolve
      this.rejectRun = reject
    })
    // A rejection nobody awaits yet must not crash the process.
    this.finished.catch(() => {})
    init.signal.addEventListener('abort', () => this.fail(abortError(init.signal)), { once: true })
    // Cancelled before the scheduler existed (between the manifest and the first chunk): the abort
    // event has fired already, and the fetch must end with the cancel, not with "no providers".
    if (init.signal.aborted) this.fail(abortError(init.signal))
  }

  get activeProviders(): ProviderState[] {
    return this.providers.filter((p) => p.active)
  }

  get allProviders(): readonly ProviderState[] {
    return this.providers
  }

  /** Resolves when every chunk is delivered; rejects when none can be. */
  run(): Promise<void> {
    this.pump()
    return this.finished
  }

  addProvider(provider: ProviderState): void {
    if (this.settled) return
    this.providers.push(provider)
    this.firstJoinedAt ??= this.now()
    this.cursor.set(provider, 0)
    const sample = this.order[0]?.size ?? 1
    provider.initialEstimateMs = provider.estimateMs(sample)
    this.pump()
  }

  /**
   * A provider is about to join (its HAVE is on the way). Providers answer one after another, a
   * round trip or so apart; the first to answer would fill its whole window at once, and with
   * enough providers that is every chunk, so the ones answering a moment later get nothing and
   * a few queues hold the whole fetch (or a slow home peer holds what the origin joining next
   * would have sent in a fraction of the time). So the first assignments wait until every
   * announced provider has joined, or `joinGraceMs` after the first one did.
   */
  joining(): void {
    this.joiningCount++
  }

  /** A provider announced by joining() was added, or turned out unusable. */
  joined(): void {
    this.joiningCount = Math.max(0, this.joiningCount - 1)
    this.pump()
  }

  /**
   * A lost provider is being won back (its peer redialled): until rejoinEnded(), chunks only it
   * held wait for it instead of failing the fetch. The fetcher bounds how long that takes.
   */
  rejoining(): void {
    this.rejoiningCount++
  }

  rejoinEnded(): void {
    this.rejoiningCount = Math.max(0, this.rejoiningCount - 1)
    this.pump()
  }

  /** No more providers will be added: fail if the ones we have cannot finish. */
  discoveryFinished(): void {
    this.discovering = false
    this.pump()
  }

  /** Ends the run with err once the chunks already on their way to the store are written. */
  private fail(err: Error): void {
    if (this.settled) return
    this.settled = true
    for (const list of this.assigned.values()) for (const a of list) a.controller.abort(err)
    void Promise.allSettled(this.storing).then(() => this.rejectRun(err))
  }

  private succeed(): void {
    if (this.settled) return
    this.settled = true
    this.resolveRun()
  }

  private pump(): void {
    if (this.settled) return
    if (this.pending.size === 0 && this.assigned.size === 0) {
      if (this.storing.size === 0) this.succeed()
      return
    }
    if (this.waitingForJoiners()) return
    // The store is behind: no new requests until it catches up (memory stays bounded).
    if (this.storingBytes >= this.maxStoreBacklogBytes) return
    // Greedy earliest-finish-time: each free request goes to the provider that would finish it
    // first (ties to the lower RTT), so the nearest provider is ranked first and the others take
    // only what they can deliver sooner than its queue would.
    const sample = this.order[0]?.size ?? 1
    let progress = true
    while (progress) {
      progress = false
      const ranked = this.providers
        .filter((p) => p.active && p.inFlight < p.window)
        .map((provider) => ({ provider, estimate: provider.estimateMs(sample) }))
        .sort((a, b) => a.estimate - b.estimate || (a.provider.rttMs ?? 50) - (b.provider.rttMs ?? 50))
      for (const { provider } of ranked) {
        const next = this.nextFor(provider)
        if (next !== undefined) {
          this.start(provider, next)
        } else {
          const taken = this.endgameFor(provider)
          if (taken === undefined) continue
          this.start(provider, taken.chunk)
          // a request still queued at its server is withdrawn there: moved, not duplicated
          if (taken.from !== undefined) {
            this.moved.add(taken.chunk.key)
            taken.from.controller.abort(new BwnodeError(ERR.REASSIGNED, 'moved to a provider that is free'))
          }
        }
        progress = true
        break
      }
    }
    if (this.assigned.size === 0 && this.pending.size > 0 && !this.discovering && this.rejoiningCount === 0) {
      const anyoneCan = [...this.pending].some((key) => this.holders(key).length > 0)
      if (!anyoneCan) {
        const example = this.pending.values().next().value
        const refusal = this.lendingRefusal
        this.fail(
          refusal === undefined
            ? new BwnodeError(
                ERR.NO_PROVIDERS,
                `no reachable provider has ${this.pending.size} of the chunks still needed (e.g. ${example})`,
              )
            : new BwnodeError(
                ERR.LENDING_CLOSED,
                `${this.pending.size} of the chunks still needed are held only by providers that stopped lending; ` +
                  `${refusal.peer} said: ${refusal.message}`,
              ),
        )
      }
    }
  }

  /** True (and a pump scheduled) while the first assignments wait for announced providers. */
  private waitingForJoiners(): boolean {
    if (this.joiningCount === 0 || this.assigned.size > 0 || this.doneChunks > 0) return false
    if (this.firstJoinedAt === undefined) return false
    const left = this.firstJoinedAt + (this.init.joinGraceMs ?? DEFAULT_JOIN_GRACE_MS) - this.now()
    if (left <= 0) return false
    if (this.graceTimer === undefined) {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined
        this.pump()
      }, left)
      this.graceTimer.unref?.()
    }
    return true
  }

  private holders(key: string): ProviderState[] {
    const index = this.indexOf(key)
    return this.providers.filter((p) => p.active && p.has.has(index))
  }

  /** Position in `chunks`: the index providers' `has` sets are expressed in. */
  private indexOf(key: string): number {
    return this.indexByKey.get(key) ?? -1
  }

  /**
   * Would this provider deliver the chunk in time? Yes when it is within `assignSlack` of the best
   * holder's estimate, or when the other holders could not reach it sooner anyway: with this much
   * still unassigned, they need (pending bytes / their combined rate) to get through it, so a slow
   * provider finishing before that adds its capacity instead of holding the tail. Without the
   * second test a home uplink beside a fast origin gets nothing (its one chunk takes longer than
   * the origin's queue), and origin + peers is no faster than the origin alone.
   */
  private worthAssigning(provider: ProviderState, chunk: WantedChunk, index: number): boolean {
    const mine = provider.estimateMs(chunk.size)
    let best = mine
    let othersBytesPerSec = 0
    for (const other of this.providers) {
      if (other === provider || !other.active || !other.has.has(index)) continue
      best = Math.min(best, other.estimateMs(chunk.size))
      othersBytesPerSec += other.capacityBytesPerSec() ?? 0
    }
    if (mine <= best * (this.init.assignSlack ?? DEFAULT_ASSIGN_SLACK)) return true
    return othersBytesPerSec > 0 && mine <= (this.pendingBytes * 1000) / othersBytesPerSec
  }

  get localityBias(): number {
    return this.init.localityBias ?? DEFAULT_LOCALITY_BIAS
  }

  /** Share of locality decisions skipped because the CPU was saturated (0 when none were). */
  get localitySuspended(): number {
    return this.localityChecks === 0 ? 0 : this.localitySkipped / this.localityChecks
  }

  /**
   * Each active provider's distance premium (1 + bias x its RTT above the nearest one's,
   * relative to that) and its share of the bytes: measured capacity / premium, normalised, then
   * bounded so that locality never costs more than LOCALITY_MAX_COST of the time the other
   * providers save over the fastest one alone (see boundedShares). Whatever the bias, a fetch
   * from several providers is then never slower than from its fastest provider alone.
   */
  localityShares(): Map<ProviderState, { premium: number; share: number }> {
    const active = this.providers.filter((p) => p.active)
    // Distance is judged by pings only: a provider nobody has pinged yet pays no premium.
    const known = active.map((p) => p.networkRttMs).filter((ms) => ms !== undefined)
    const nearest = Math.max(Math.min(...known), MIN_RTT_MS)
    const excess = (p: ProviderState): number =>
      p.networkRttMs === undefined ? 0 : Math.max(0, p.networkRttMs - nearest)
    const rates = active.map((p) => p.capacityBytesPerSec())
    // Without a rate for everyone, compare them as equals rather than guess.
    const ratesKnown = rates.every((r) => r !== undefined && r > 0)
    const capacities = active.map((_, i) => (ratesKnown ? rates[i]! : 1))
    const premiums = active.map((p) => 1 + (this.localityBias * excess(p)) / nearest)
    const shares = boundedShares(
      capacities,
      capacities.map((c, i) => c / premiums[i]!),
    )
    return new Map(active.map((p, i) => [p, { premium: premiums[i]!, share: shares[i]! }]))
  }

  /**
   * Is this provider within its locality share of the bytes handed out so far?
   * Only a provider further than the nearest, and only while another provider is
   * busy (and so will call pump() again), is ever held back: nothing waits on an idle peer.
   */
  private withinLocalShare(provider: ProviderState, nextBytes: number): boolean {
    if (this.localityBias <= 0) return true
    this.localityChecks++
    if (this.cpu.saturated()) {
      this.localitySkipped++
      return true
    }
    if (!this.providers.some((p) => p !== provider && p.active && p.inFlight > 0)) return true
    const shares = this.localityShares()
    const mine = shares.get(provider)
    // The nearest providers (premium 1) are never held back: only distance costs a share.
    if (mine === undefined || mine.premium <= 1) return true
    let handed = nextBytes
    for (const p of shares.keys()) handed += p.bytes + p.inFlightBytes
    // Measured against the total after this chunk: about one chunk of leeway.
    return provider.bytes + provider.inFlightBytes <= mine.share * handed
  }

  private nextFor(provider: ProviderState): WantedChunk | undefined {
    if (!this.withinLocalShare(provider, this.order[0]?.size ?? 1)) return undefined
    for (let i = 0; i < this.retry.length; i++) {
      const key = this.retry[i]!
      const index = this.indexOf(key)
      if (!this.pending.has(key)) {
        this.retry.splice(i--, 1)
        continue
      }
      if (provider.has.has(index) && this.worthAssigning(provider, this.byKey.get(key)!, index)) {
        this.retry.splice(i, 1)
        return this.byKey.get(key)
      }
    }
    let at = this.cursor.get(provider) ?? 0
    // Skip what is already taken; the cursor only moves forward, so the scan is linear overall.
    while (at < this.order.length && !this.pending.has(this.order[at]!.key)) at++
    this.cursor.set(provider, at)
    for (let i = at; i < this.order.length; i++) {
      const chunk = this.order[i]!
      if (!this.pending.has(chunk.key) || !provider.has.has(i)) continue
      if (!this.worthAssigning(provider, chunk, i)) return undefined
      return chunk
    }
    return undefined
  }

  /**
   * Nothing left to hand out: take over the outstanding request that would arrive last, if this
   * provider would deliver it sooner. Each provider's requests are served in order, so the i-th
   * oldest of a provider arrives after about i + 1 of its chunk times. Providers that answered
   * HAVE first hold deep queues while ones that joined a moment later have none; a request that
   * deep in a queue has not been started by its server, so it is moved (cancelled there, where
   * it is dropped unsent). A request its server is already sending (within the first
   * SERVING_AHEAD of the queue) is left alone, unless it is stalled (older than ENDGAME_OVERDUE
   * x its expected time): that one is raced, and the first verified copy wins.
   *
   * A provider past its locality share races only stalled requests: a near peer's healthy queue
   * is not handed to a far one at the tail.
   */
  private endgameFor(provider: ProviderState): { chunk: WantedChunk; from?: Assignment } | undefined {
    if (this.pending.size > 0) return undefined
    const overdueOnly = !this.withinLocalShare(provider, this.order[0]?.size ?? 1)
    const now = this.now()
    const byProvider = new Map<ProviderState, Array<{ key: string; assignment: Assignment }>>()
    for (const [key, list] of this.assigned) {
      for (const assignment of list) {
        const queue = byProvider.get(assignment.provider) ?? []
        queue.push({ key, assignment })
        byProvider.set(assignment.provider, queue)
      }
    }
    // When this provider would deliver one more chunk: judged like the holders (its own queue at
    // its per-chunk time), or by its estimate when it has nothing in flight
    const mine = byProvider.get(provider)
    const takerArrivesAt =
      mine === undefined || mine.length === 0
        ? undefined
        : (() => {
            const pace = this.queuePace(
              provider,
              mine.reduce((a, b) => (a.assignment.startedAt <= b.assignment.startedAt ? a : b)).assignment,
              now,
            )
            return now + (provider.rttMs ?? 0) + pace.headMs + mine.length * pace.perChunkMs
          })()
    let best: { key: string; arrivesAt: number; from?: Assignment } | undefined
    for (const [holder, queue] of byProvider) {
      if (holder === provider) continue
      queue.sort((a, b) => a.assignment.startedAt - b.assignment.startedAt)
      const pace = this.queuePace(holder, queue[0]!.assignment, now)
      for (const [i, { key, assignment }] of queue.entries()) {
        // already raced, or not something this provider holds
        if ((this.assigned.get(key)?.length ?? 0) !== 1) continue
        const chunk = this.byKey.get(key)
        if (chunk === undefined || !provider.has.has(this.indexOf(key))) continue
        // Only a holder that has delivered, at a known rate, has an expected time to be late
        // against. Before its first chunk (stream start-up, a cold disk, a window still growing)
        // it is judged by the chunk timeout alone: racing then fetched a third of a sixteen-peer
        // staging twice.
        const stalled =
          holder.chunks > 0 &&
          holder.rateBytesPerSec() !== undefined &&
          now - assignment.startedAt >= ENDGAME_OVERDUE * assignment.expectedMs
        const queuedAtServer = i >= SERVING_AHEAD
        if (!stalled && (overdueOnly || !queuedAtServer)) continue
        // a chunk moves once, and only for a clear gain (no two providers passing it back and forth)
        if (!stalled && this.moved.has(key)) continue
        const arrivesAt = stalled ? Number.POSITIVE_INFINITY : now + pace.headMs + i * pace.perChunkMs
        const slack = stalled ? 1 : (this.init.assignSlack ?? DEFAULT_ASSIGN_SLACK)
        const takerMs = (takerArrivesAt ?? now + provider.estimateMs(chunk.size)) - now
        if (arrivesAt <= now + slack * takerMs) continue
        if (best === undefined || arrivesAt > best.arrivesAt)
          best = { key, arrivesAt, ...(stalled ? {} : { from: assignment }) }
      }
    }
    const chunk = best === undefined ? undefined : this.byKey.get(best.key)
    if (best === undefined || chunk === undefined) return undefined
    return { chunk, ...(best.from === undefined ? {} : { from: best.from }) }
  }

  /**
   * When `holder`'s queue will drain, ms from now: its head arrives after headMs and each request
   * behind it perChunkMs later. Per chunk is its measured rate, or what it delivered since its
   * oldest open request was sent (requests sent together queue at the server: the second waits
   * two chunk times, and reading that as one chunk time made two busy providers trade their last
   * requests, each then a chunk time late).
   *
   * With nothing delivered since that request, its wait so far (beyond a round trip) is start-up:
   * a fresh stream, a cold disk, a window still growing. It is paid once, by the head, not by
   * every request queued behind it: counted per chunk, sixteen fresh sessions' 200 ms start-ups
   * read as deep queues ten times slower than their links, and the endgame moved them to peers
   * that were slower.
   */
  private queuePace(
    holder: ProviderState,
    oldest: Assignment,
    now: number,
  ): { headMs: number; perChunkMs: number } {
    const size = this.order[0]?.size ?? 1
    const rate = holder.rateBytesPerSec()
    const measured = rate !== undefined && rate > 0 ? (size * 1000) / rate : 0
    const rtt = holder.rttMs ?? 0
    const since = holder.deliveredSince(oldest.startedAt)
    if (since.count > 0) {
      const perChunkMs = Math.max(measured, (since.lastAt - oldest.startedAt - rtt) / since.count, 0)
      return { headMs: perChunkMs, perChunkMs }
    }
    const headMs = Math.max(measured, now - oldest.startedAt - rtt, 0)
    return { headMs, perChunkMs: measured > 0 ? measured : headMs }
  }

  private start(provider: ProviderState, chunk: WantedChunk): void {
    if (this.pending.delete(chunk.key)) this.pendingBytes -= chunk.size
    const controller = new AbortController()
    const assignment: Assignment = {
      provider,
      controller,
      startedAt: this.now(),
      expectedMs: provider.estimateMs(chunk.size),
    }
    const list = this.assigned.get(chunk.key) ?? []
    list.push(assignment)
    this.assigned.set(chunk.key, list)
    provider.inFlight += 1
    provider.inFlightBytes += chunk.size
    const timeoutMs = Math.max(
      this.init.minChunkTimeoutMs ?? DEFAULT_MIN_CHUNK_TIMEOUT_MS,
      4 * provider.estimateMs(chunk.size),
    )
    // A request queued behind others at a provider waits for them: while the provider keeps
    // delivering, its timer starts again from the last delivery, so a slow provider whose rate
    // is not known yet is not dropped for the length of its own queue; one that stops is.
    const arm = (ms: number): ReturnType<typeof setTimeout> =>
      setTimeout(() => {
        const quietMs = this.now() - Math.max(assignment.startedAt, provider.lastDeliveryAt)
        if (quietMs < timeoutMs) {
          timer = arm(timeoutMs - quietMs)
          return
        }
        controller.abort(
          new BwnodeError(ERR.CHUNK_TIMEOUT, `no chunk from the provider in ${Math.round(timeoutMs)} ms`),
        )
      }, ms)
    let timer = arm(timeoutMs)
    provider.session
      .get(chunk.cid, { signal: controller.signal })
      .then(
        (bytes) => this.onBytes(chunk, assignment, bytes),
        (err: unknown) => this.onFailure(chunk, assignment, err),
      )
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        clearTimeout(timer)
        provider.inFlight -= 1
        provider.inFlightBytes -= chunk.size
        this.detach(chunk.key, assignment)
        this.pump()
      })
  }

  private detach(key: string, assignment: Assignment): void {
    const list = this.assigned.get(key)
    if (list === undefined) return
    const rest = list.filter((a) => a !== assignment)
    if (rest.length === 0) this.assigned.delete(key)
    else this.assigned.set(key, rest)
  }

  /**
   * A verified chunk arrived. The provider's part ends here: its pace is measured at arrival and
   * its request slot is freed, while the chunk goes to the store. Awaiting the store in the slot
   * made the provider look as slow as this node's disk and event loop (a busy fetcher's chunk
   * writes lagged its arrivals by 15-75 ms) and left fewer requests at the provider.
   */
  private onBytes(chunk: WantedChunk, assignment: Assignment, bytes: Uint8Array): void {
    if (this.settled) return
    const others = (this.assigned.get(chunk.key) ?? []).filter((a) => a !== assignment)
    if (!this.byKey.has(chunk.key)) return
    // First verified copy wins: forget the chunk now so a racing duplicate is ignored.
    this.byKey.delete(chunk.key)
    for (const other of others)
      other.controller.abort(new BwnodeError(ERR.DUPLICATE, 'another provider delivered it'))
    assignment.provider.onComplete(bytes.byteLength, this.now(), chunk.size, assignment.startedAt)
    this.store(chunk, bytes, assignment.provider)
  }

  /** Hands a verified chunk to deliver(); it counts as done once stored. */
  private store(chunk: WantedChunk, bytes: Uint8Array, from: ProviderState): void {
    this.storingBytes += bytes.byteLength
    const stored: Promise<void> = this.init
      .deliver(chunk, bytes, from)
      .then(
        () => {
          this.doneBytes += bytes.byteLength
          this.doneChunks += 1
          this.init.onEvent?.({
            type: 'chunk',
            key: chunk.key,
            bytes: bytes.byteLength,
            peer: from.peer.toString(),
          })
        },
        // The store refused it (for instance a full disk): nothing else can succeed either.
        (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        this.storingBytes -= bytes.byteLength
        this.storing.delete(stored)
        this.pump()
      })
    this.storing.add(stored)
  }

  private onFailure(chunk: WantedChunk, assignment: Assignment, failure: unknown): void {
    if (this.settled) return
    // Off the chunk's list now, not in the request's `finally`: when two copies of a chunk fail in
    // the same tick (an endgame race whose two providers both stopped), each would otherwise see the
    // other still assigned, neither would requeue it, and the fetch would end without it.
    this.detach(chunk.key, assignment)
    const provider = assignment.provider
    // The session reports any abort as its own ERR_ABORTED; why this request was aborted
    // (a duplicate won, a timeout, the provider was dropped) is the controller's reason.
    const aborted = assignment.controller.signal
    const err = aborted.aborted && aborted.reason instanceof Error ? aborted.reason : failure
    const code = errorCode(err)
    // Losing an endgame race is not the provider's fault, and a dropped provider is already counted.
    // Still requeued (a no-op while the copy that replaced it is on its way or arrived): the copy
    // a move went to may have failed first, seen this one still listed and left the chunk to it.
    if (code === ERR.DUPLICATE || code === ERR.REASSIGNED || code === ERR.PROVIDER_DROPPED) {
      this.requeue(chunk, assignment)
      return
    }
    if (isLoss(code) && provider.session.closed === true) {
      // The session died (connection reset, peer gone): every request on it fails alike, so the
      // provider goes at once, its chunks with it, and the fetcher may win it back.
      this.lose(provider, errorMessage(err))
      this.requeue(chunk, assignment)
      return
    }
    if (code === ERR.CHUNK_HASH_MISMATCH) {
      provider.badChunks += 1
      if (provider.badChunks >= (this.init.maxBadChunks ?? DEFAULT_MAX_BAD_CHUNKS))
        this.drop(provider, 'sent corrupt chunks')
    } else if (code === ERR.NOT_FOUND) {
      provider.has.delete(this.indexOf(chunk.key))
    } else if (code === ERR.PAYMENT_REQUIRED || code === ERR.PAYMENT_DISCONNECT) {
      this.drop(provider, `payment required: ${errorMessage(err)}`)
    } else if (code === ERR.LENDING_CLOSED) {
      // Past its cap or outside its schedule: it will refuse every other chunk too.
      this.lendingRefusal = { peer: provider.peer.toString(), message: errorMessage(err) }
      this.drop(provider, errorMessage(err))
    } else {
      provider.failures += 1
      if (provider.failures >= (this.init.maxFailures ?? DEFAULT_MAX_FAILURES)) {
        this.drop(provider, `failed ${provider.failures} times (last: ${errorMessage(err)})`)
      }
    }
    this.requeue(chunk, assignment)
  }

  /** Back to the queue unless a duplicate is still on its way or it already arrived. */
  private requeue(chunk: WantedChunk, assignment: Assignment): void {
    const stillAssigned = (this.assigned.get(chunk.key) ?? []).some((a) => a !== assignment)
    if (this.byKey.has(chunk.key) && !stillAssigned && !this.pending.has(chunk.key)) {
      this.pending.add(chunk.key)
      this.pendingBytes += chunk.size
      this.retry.push(chunk.key)
    }
  }

  private lose(provider: ProviderState, reason: string): void {
    if (!provider.active) return
    this.drop(provider, `lost: ${reason}`, 'lost')
  }

  private drop(provider: ProviderState, reason: string, type: 'drop' | 'lost' = 'drop'): void {
    if (!provider.active) return
    provider.dropped = reason
    this.init.onEvent?.({ type, peer: provider.peer.toString(), reason })
    for (const [, list] of this.assigned) {
      for (const a of list) {
        if (a.provider === provider) a.controller.abort(new BwnodeError(ERR.PROVIDER_DROPPED, reason))
      }
    }
    void Promise.resolve(provider.session.close()).catch(() => {})
  }
}

/**
 * Whether a request's failure can be a lost session rather than the provider's answer: a corrupt
 * chunk, a protocol violation, or a payment dispute is the provider's doing, and no redial fixes it.
 */
function isLoss(code: string): boolean {
  if (isPaymentCode(code)) return false
  return code !== ERR.CHUNK_HASH_MISMATCH && code !== ERR.BAD_FRAME && code !== ERR.NOT_FOUND
}

/**
 * Shares of the bytes from each provider's capacity and its locality weight (capacity / premium).
 * Sharing by capacity finishes every provider together (the ideal time T); sharing by weight puts
 * more on near providers, which then finish later. No provider's share may exceed f x its
 * capacity share, f = 1 + LOCALITY_MAX_COST x (total capacity / largest - 1), so the fetch takes
 * at most f x T: the ideal plus that part of what the others save over the fastest alone. The
 * excess of a capped share goes to the uncapped ones in proportion to their weights.
 */
export function boundedShares(capacities: number[], weights: number[]): number[] {
  const totalCapacity = capacities.reduce((sum, c) => sum + c, 0)
  const totalWeight = weights.reduce((sum, w) => sum + w, 0)
  if (totalCapacity <= 0 || totalWeight <= 0) return capacities.map(() => 1 / Math.max(1, capacities.length))
  const slowdown = 1 + LOCALITY_MAX_COST * (totalCapacity / Math.max(...capacities) - 1)
  const caps = capacities.map((c) => (slowdown * c) / totalCapacity)
  const shares = weights.map((w) => w / totalWeight)
  const capped = new Set<number>()
  // Each pass caps at least one more provider, or stops: at most n passes.
  for (let pass = 0; pass < shares.length; pass++) {
    const over = shares.findIndex((s, i) => !capped.has(i) && s > caps[i]! + 1e-12)
    if (over === -1) break
    for (let i = 0; i < shares.length; i++) if (shares[i]! > caps[i]! + 1e-12) capped.add(i)
    const left = 1 - [...capped].reduce((sum, i) => sum + caps[i]!, 0)
    const freeWeight = weights.reduce((sum, w, i) => (capped.has(i) ? sum : sum + w), 0)
    for (let i = 0; i < shares.length; i++) {
      shares[i] = capped.has(i) ? caps[i]! : freeWeight > 0 ? (left * weights[i]!) / freeWeight : 0
    }
  }
  return shares
}

/**
 * Requests at the front of a provider's queue that its server may already be sending: moving one
 * would waste its bytes. The server checks for a CANCEL just before it writes a response, so
 * everything behind the first can be moved without a byte sent (see endgameFor).
 */
const SERVING_AHEAD = 1

/** A request this many times older than its expected time is overdue (see endgameFor). */
const ENDGAME_OVERDUE = 2
/**
 * Floor under the nearest RTT, ms: a few ms of difference is scheduling noise or one metro
 * area, not distance, and relative to a sub-millisecond loopback RTT it would look enormous.
 */
const MIN_RTT_MS = 10

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new BwnodeError(ERR.ABORTED, 'fetch cancelled')
}
