import type { AbortOptions, MessageStream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { AbstractMessageStream, type SendResult, StreamClosedError } from '@libp2p/utils'
import { concat } from 'uint8arrays/concat'
import {
  BACKLOG_MS,
  DEFAULT_BURST_MS,
  DEFAULT_PACING_QUANTUM_MS,
  DEFAULT_QUEUE_BUFFER_BYTES,
  DEFAULT_QUEUE_BUFFER_MS,
  DEFAULT_RELEASE_TOLERANCE_MS,
  DEFAULT_SPIN_MS,
  DEFAULT_UNLIMITED_QUEUE_BYTES,
  MAX_CATCH_UP_MS,
  MIN_PACING_PIECE_BYTES,
} from './constants.ts'
import { type EmulatorProbe, UNDILATED } from './dilation.ts'
import type { UplinkLoad } from './uplink-load.ts'

/**
 * One node's uplink, shared by all its shaped connections: a virtual clock that says until when
 * the uplink is busy. Every piece any connection sends reserves its serialisation time on it, so
 * the node's connections together never send faster than its uplink. With a load (UplinkLoad),
 * household traffic takes its share of the rate and a greedy upload's standing queue delays every
 * piece before it is serialised.
 */
export class SharedUplink {
  /** Undilated rate. */
  readonly bytesPerMs: number
  /** When the uplink finishes what has been reserved so far (performance.now() ms). */
  freeAt = Number.NEGATIVE_INFINITY
  readonly load: UplinkLoad | undefined
  private readonly dilation: { readonly factor: number }

  constructor(rateMbps: number, dilation: { readonly factor: number } = UNDILATED, load?: UplinkLoad) {
    this.bytesPerMs = (rateMbps * 1e6) / 8 / 1000
    this.dilation = dilation
    this.load = load
  }

  /** Reserve `bytes` starting no earlier than `earliestStart`; returns when they are serialised. */
  reserve(bytes: number, earliestStart: number): number {
    const k = this.dilation.factor
    // FIFO: a piece behind a standing queue leaves after it, or after bwnode's own earlier pieces
    const queuedBehind = earliestStart + (this.load?.standingQueueMs ?? 0) * k
    const bytesPerMs = this.bytesPerMs * (this.load?.availableShare ?? 1)
    this.freeAt = Math.max(queuedBehind, this.freeAt) + (bytes * k) / bytesPerMs
    return this.freeAt
  }
}

export interface ShaperOptions {
  /** Added to every byte sent, ms. */
  delayMs: number
  /** Mbit/s; Infinity for no pacing. This path's own limit (e.g. the receiver's downlink). */
  rateMbps: number
  /** The sending node's uplink, shared with its other connections (absent: not shared). */
  uplink?: SharedUplink
  /** Bottleneck buffer on top of the bandwidth-delay product, bytes. */
  queueBufferBytes?: number
  /** Bottleneck buffer on top of the bandwidth-delay product, ms at the link rate. */
  queueBufferMs?: number
  /** Queue bound when the rate is unlimited, bytes. */
  unlimitedQueueBytes?: number
  pacingQuantumMs?: number
  releaseToleranceMs?: number
  /** Finish the last this-many ms of a wait by polling the event loop instead of a timer (0: never). */
  spinMs?: number
  /** Token bucket depth, ms of link time that an idle link may bank (see DEFAULT_BURST_MS). */
  burstMs?: number
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number
  /** Time dilation (rates / K, delays x K); read on every send. Default: none. */
  dilation?: { readonly factor: number }
  /** Told how late each release was and how much link time a late sender reclaimed. */
  probe?: EmulatorProbe
}

interface Pending {
  data: Uint8Array
  dueAt: number
}

/** Drop already-released entries from the front of the queue array once this many pile up. */
const COMPACT_AFTER = 1024

/**
 * A MessageStream that delays and paces what this end sends over `inner`, like one direction
 * of a network link: each piece finishes serialising at the link rate (a token bucket in its
 * virtual-clock form: the link is busy until `linkFreeAt`, and an idle link banks at most
 * `burstMs` of sending time), then spends `delayMs` in flight, then is handed to the real
 * socket. No byte is handed on before its send time + `delayMs`. Received bytes pass through
 * untouched: the other end shapes them.
 *
 * The queue (bytes accepted but not yet handed on) is bounded at about rate x delay plus a
 * small buffer: past that `send()` returns false and 'drain' fires once releases make room,
 * so the sender feels the bandwidth-delay product instead of an endless buffer.
 *
 * One timer at a time, armed for the head of the queue; each firing releases everything due.
 */
export class ShapedMessageStream extends AbstractMessageStream {
  readonly inner: MessageStream
  /** Undilated one-way delay, ms. */
  readonly baseDelayMs: number
  /** Undilated rate, Mbit/s. */
  readonly rateMbps: number
  private readonly baseBytesPerMs: number
  private readonly dilation: { readonly factor: number }
  private readonly probe: EmulatorProbe | undefined
  private readonly uplink: SharedUplink | undefined
  private readonly pieceBytes: number
  private readonly toleranceMs: number
  private readonly now: () => number
  private readonly queueBufferMs: number
  private readonly queueExtraBytes: number
  private queue: Pending[] = []
  private head = 0
  private queuedBytes = 0
  private linkFreeAt = Number.NEGATIVE_INFINITY
  private readonly spinMs: number
  private readonly burstMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  private immediate: ReturnType<typeof setImmediate> | undefined
  private senderBlocked = false
  /**
   * When a late release unblocks the sender, the instant room really opened: the sender's next
   * bytes may take link slots from then on, so our own lateness (a busy or starved event loop)
   * does not eat link capacity. Cleared by the next send.
   */
  private refillFrom: number | undefined
  /** When the last late 'drain' was dispatched (performance.now() ms). */
  private drainedAt = 0
  private flushWaiters: Array<PromiseWithResolvers<void>> = []

  constructor(inner: MessageStream, options: ShaperOptions) {
    super({
      log: inner.log,
      direction: inner.direction,
      inactivityTimeout: inner.inactivityTimeout,
      maxReadBufferLength: inner.maxReadBufferLength,
    })
    this.inner = inner
    this.baseDelayMs = options.delayMs
    this.rateMbps = options.rateMbps
    this.dilation = options.dilation ?? UNDILATED
    this.probe = options.probe
    this.now = options.now ?? (() => performance.now())
    this.toleranceMs = options.releaseToleranceMs ?? DEFAULT_RELEASE_TOLERANCE_MS
    this.spinMs = options.spinMs ?? DEFAULT_SPIN_MS
    this.burstMs = options.burstMs ?? DEFAULT_BURST_MS
    this.baseBytesPerMs = (options.rateMbps * 1e6) / 8 / 1000
    this.uplink = options.uplink
    const limited = Number.isFinite(this.baseBytesPerMs)
    // Sizes in bytes come from undilated figures: rate / K x time x K is the same number of bytes.
    this.pieceBytes = limited
      ? Math.max(
          MIN_PACING_PIECE_BYTES,
          Math.ceil(this.baseBytesPerMs * (options.pacingQuantumMs ?? DEFAULT_PACING_QUANTUM_MS)),
        )
      : Number.POSITIVE_INFINITY
    this.queueBufferMs = options.queueBufferMs ?? DEFAULT_QUEUE_BUFFER_MS
    this.queueExtraBytes = limited
      ? (options.queueBufferBytes ?? DEFAULT_QUEUE_BUFFER_BYTES)
      : (options.unlimitedQueueBytes ?? DEFAULT_UNLIMITED_QUEUE_BYTES)

    inner.addEventListener('message', (evt: StreamMessageEvent) => {
      this.onData(evt.data)
    })
    inner.addEventListener('remoteCloseWrite', () => {
      this.onRemoteCloseWrite()
    })
    inner.addEventListener('drain', () => {
      this.release()
    })
    inner.addEventListener('close', (evt: StreamCloseEvent) => {
      this.discardQueue(evt.error ?? new StreamClosedError('underlying connection closed'))
      if (evt.error != null) {
        if (evt.local === true) this.abort(evt.error)
        else this.onRemoteReset()
      } else {
        this.onTransportClosed()
      }
    })
  }

  /**
   * Bytes the queue may hold before send() reports backpressure: the bandwidth-delay product plus
   * the bottleneck buffer (the uplink load's, when the uplink has one: a bloated buffer lets the
   * sender queue that much more ahead of everything else on the link).
   */
  get queueLimitBytes(): number {
    if (!Number.isFinite(this.baseBytesPerMs)) return this.queueExtraBytes
    const bufferMs = this.uplink?.load?.bufferMs ?? this.queueBufferMs
    return Math.ceil(this.baseBytesPerMs * (this.baseDelayMs + bufferMs)) + this.queueExtraBytes
  }

  /** One-way delay in real time: the configured delay x the dilation factor, ms. */
  get delayMs(): number {
    return this.baseDelayMs * this.dilation.factor
  }

  /** Rate in real time: the configured rate / the dilation factor, bytes per ms. */
  private get bytesPerMs(): number {
    return this.baseBytesPerMs / this.dilation.factor
  }

  /** Bytes accepted from the sender that the emulated link has not delivered yet. */
  get queuedLength(): number {
    return this.queuedBytes
  }

  sendData(data: Parameters<AbstractMessageStream['sendData']>[0]): SendResult {
    const now = this.now()
    const k = this.dilation.factor
    const bytesPerMs = this.bytesPerMs
    const delayMs = this.delayMs
    // an idle link banks up to burstMs of sending time, but nothing arrives before now + delay
    let earliestStart = now - this.burstMs * k
    if (this.refillFrom !== undefined) {
      // Reclaim only the emulator's own lateness (room opened at refillFrom, 'drain' went out at
      // drainedAt); a sender that dawdled after 'drain' gets no credit for its own idle time.
      const from = Math.max(this.refillFrom + (now - this.drainedAt), now - MAX_CATCH_UP_MS * k)
      const reclaimed = Math.min(now, now - this.burstMs * k) - Math.max(from, this.linkFreeAt)
      if (reclaimed > 0) this.probe?.onCatchUp(reclaimed)
      earliestStart = Math.min(earliestStart, from)
      this.refillFrom = undefined
    }
    for (const buf of data) {
      for (let offset = 0; offset < buf.byteLength; offset += this.pieceBytes) {
        const piece = this.pieceBytes >= buf.byteLength ? buf : buf.subarray(offset, offset + this.pieceBytes)
        this.linkFreeAt = Math.max(earliestStart, this.linkFreeAt) + piece.byteLength / bytesPerMs
        // the node's other connections may hold the uplink: the piece also waits its turn there
        if (this.uplink !== undefined)
          this.linkFreeAt = Math.max(this.linkFreeAt, this.uplink.reserve(piece.byteLength, earliestStart))
        this.queue.push({ data: piece, dueAt: Math.max(now, this.linkFreeAt) + delayMs })
        this.queuedBytes += piece.byteLength
      }
    }
    this.arm(now)
    const canSendMore = this.queuedBytes < this.queueLimitBytes
    if (!canSendMore) this.senderBlocked = true
    return { sentBytes: data.byteLength, canSendMore }
  }

  /** Resolves once everything accepted so far has been handed to the inner stream. */
  async flush(options?: AbortOptions): Promise<void> {
    if (this.isFlushed()) return
    const waiter = Promise.withResolvers<void>()
    this.flushWaiters.push(waiter)
    if (options?.signal == null) return waiter.promise
    const signal = options.signal
    const onAbort = (): void => waiter.reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await waiter.promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  async close(options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closing'
    this.writeStatus = 'closing'
    // in-flight bytes still arrive when a real link is closed behind them
    await this.flush(options)
    await this.inner.close(options)
    this.onTransportClosed()
  }

  sendReset(err: Error): void {
    this.discardQueue(err)
    this.inner.abort(err)
  }

  sendPause(): void {
    this.inner.pause()
  }

  sendResume(): void {
    this.inner.resume()
  }

  private isFlushed(): boolean {
    return this.queuedBytes === 0 && this.writeBufferLength === 0 && !this.sendingData
  }

  /**
   * Wake up for the head of the queue. Node timers count whole milliseconds from a cached loop
   * time, so they fire up to a millisecond early or late. While the link is idle (a request, a
   * ping: latency-sensitive), the last `spinMs` of the wait is done with setImmediate, which
   * re-checks the clock once per event-loop turn (I/O still runs in between) and lands within
   * tens of microseconds. While the link has more than BACKLOG_MS of serialising queued (bulk
   * transfer) a plain timer is
   * used: pacing decides when those bytes arrive, and spinning through it would burn a core.
   */
  private arm(now: number): void {
    if (this.timer != null || this.immediate != null || this.head >= this.queue.length) return
    const next = this.queue[this.head] as Pending
    const wait = next.dueAt - now - this.toleranceMs
    if (this.linkFreeAt - now > BACKLOG_MS * this.dilation.factor) {
      // busy serialising: a rate-bound backlog; an early firing just re-arms
      this.timer = setTimeout(this.release, Math.max(0, Math.ceil(wait)))
    } else if (wait > this.spinMs) {
      this.timer = setTimeout(this.release, Math.floor(wait - this.spinMs))
    } else {
      this.immediate = setImmediate(this.release)
    }
  }

  private clearWakeUp(): void {
    if (this.timer != null) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.immediate != null) {
      clearImmediate(this.immediate)
      this.immediate = undefined
    }
  }

  private readonly release = (): void => {
    this.clearWakeUp()
    if (this.head >= this.queue.length) return
    // the real socket is full: hold everything (already late) until it drains
    if (this.inner.writableNeedsDrain) return
    const now = this.now()
    const horizon = now + this.toleranceMs
    const due: Uint8Array[] = []
    let dueBytes = 0
    let roomAt: number | undefined
    const first = this.queue[this.head] as Pending
    if (first.dueAt <= horizon) this.probe?.onRelease(Math.max(0, now - first.dueAt))
    while (this.head < this.queue.length) {
      const next = this.queue[this.head] as Pending
      if (next.dueAt > horizon) break
      due.push(next.data)
      dueBytes += next.data.byteLength
      this.head++
      if (roomAt === undefined && this.queuedBytes - dueBytes < this.queueLimitBytes) roomAt = next.dueAt
    }
    this.queuedBytes -= dueBytes
    this.compact()
    if (dueBytes > 0) {
      try {
        // one write per release: the copy is cheap next to a syscall per piece
        this.inner.send(due.length === 1 ? (due[0] as Uint8Array) : concat(due, dueBytes))
      } catch (err) {
        this.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
    }
    this.arm(now)
    if (this.senderBlocked && this.queuedBytes < this.queueLimitBytes) {
      this.senderBlocked = false
      this.refillFrom = Math.min(roomAt ?? now, now)
      this.drainedAt = now
      this.safeDispatchEvent('drain')
    }
    this.settleFlushWaiters()
  }

  private settleFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return
    // 'drain' moves the base class's buffered bytes into our queue in a microtask: look after it
    queueMicrotask(() => {
      if (!this.isFlushed()) return
      const waiters = this.flushWaiters
      this.flushWaiters = []
      for (const waiter of waiters) waiter.resolve()
    })
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  private discardQueue(err: Error): void {
    this.clearWakeUp()
    this.queue = []
    this.head = 0
    this.queuedBytes = 0
    const waiters = this.flushWaiters
    this.flushWaiters = []
    for (const waiter of waiters) waiter.reject(err)
  }
}
