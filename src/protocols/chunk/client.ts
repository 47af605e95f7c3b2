import type { PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { relayedCode } from '../../errors/codes.ts'
import { BwnodeError, ProtocolError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'
import {
  CHUNK_PROTOCOL,
  DEFAULT_CLIENT_READ_HIGH_WATER_BYTES,
  DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MESSAGE_TIMEOUT_MS,
  DEFAULT_RESPONSE_TIMEOUT_MS,
  MAX_FRAME_BYTES,
  MUXER_FRAME_BYTES,
} from './constants.ts'
import { FrameReader } from './frame-reader.ts'
import { writeFrame } from './frame-writer.ts'
import {
  concatParts,
  decodeResponse,
  encodeRequest,
  type Request,
  type Response,
  STREAM_REQUEST_ID,
} from './messages.ts'
import { capMuxerFrames, deferWindowUpdates } from './muxer-frames.ts'
import type { PeerScore } from './peer-score.ts'
import type { ClientHooks, Clock, HaveReply } from './types.ts'
import { verifyChunk } from './verify.ts'

const log = logger('bwnode:chunk:client')

/** libp2p's errors for a stream opened on a connection that was closing or closed under it. */
const CONNECTION_GONE = new Set([
  'ConnectionClosedError',
  'ConnectionClosingError',
  'StreamResetError',
  'MuxerClosedError',
  'UnexpectedEOFError',
])

/** Pause before the second try, ms: the replacing connection is already open by then. */
const REOPEN_AFTER_CLOSE_MS = 100

export interface ChunkSessionInit extends ClientHooks {
  /** Requests on the wire at once; more wait locally in FIFO order, count. */
  maxInFlight?: number
  /** A started response frame must complete within this many ms. */
  messageTimeoutMs?: number
  /** With requests outstanding, some response must arrive within this many ms. */
  responseTimeoutMs?: number
  /** A server that does not read our requests for this many ms is aborted. */
  drainTimeoutMs?: number
  /** Largest response frame body accepted, in bytes. */
  maxFrameBytes?: number
  readHighWaterBytes?: number
  /** Counts the server's violations (bad frames, corrupt chunks) when given. */
  peerScore?: PeerScore
  clock?: Clock
}

export interface OpenSessionOptions extends ChunkSessionInit {
  signal?: AbortSignal
  /** Time allowed to open the stream, in ms. */
  dialTimeoutMs?: number
}

export interface RequestOptions {
  signal?: AbortSignal
}

type Kind = 'get' | 'have' | 'manifest' | 'pay'

/** A request on the wire, waiting for its response. */
interface Outstanding {
  kind: Kind
  cid?: CID
  sentAt: number
  /** The caller gave up; the response is read and dropped when it comes. */
  cancelled: boolean
  resolve(res: Response, firstByteAt: number): void
  reject(err: Error): void
}

/**
 * One stream to one peer speaking `/bwnode/chunk/1.0.0`. Requests may be issued concurrently:
 * they are pipelined on the stream (up to maxInFlight on the wire) and matched to responses by
 * request id. Chunks are verified against their CID before get() resolves.
 */
export class ChunkSession {
  readonly peerId: PeerId
  private readonly stream: Stream
  private hooks: ClientHooks
  private readonly maxInFlight: number
  private readonly responseTimeoutMs: number
  private readonly drainTimeoutMs: number
  private readonly peerScore: PeerScore | undefined
  private readonly clock: Clock
  private readonly reader: FrameReader
  private readonly outstanding = new Map<number, Outstanding>()
  /** Callers waiting for a slot on the wire. */
  private readonly slotWaiters: Array<() => void> = []
  /** Callers of drained(), woken when the last outstanding request is answered or on failure. */
  private drainWaiters: Array<() => void> = []
  /** Requests on the wire that hold a slot (vouchers do not). */
  private slotsUsed = 0
  private nextId = 1
  private writeChain: Promise<void> = Promise.resolve()
  private failure: Error | undefined
  private closing = false
  private readonly readLoopDone: Promise<void>
  private watchdog: ReturnType<typeof setTimeout> | undefined
  private lastProgressAt = 0

  /** Opens a stream to `peerId` and wraps it in a session (once more if the connection closed under it). */
  static async open(
    libp2p: {
      dialProtocol(
        peer: PeerId,
        protocols: string,
        options?: { signal?: AbortSignal; runOnLimitedConnection?: boolean },
      ): Promise<Stream>
    },
    peerId: PeerId,
    options: OpenSessionOptions = {},
  ): Promise<ChunkSession> {
    const timeout = AbortSignal.timeout(options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
    // A relay that caps its circuits marks them limited; chunks still go over one (the server
    // counts and caps them as on any connection) until the relay's cap ends it.
    const dial = () => libp2p.dialProtocol(peerId, CHUNK_PROTOCOL, { signal, runOnLimitedConnection: true })
    let stream: Stream
    try {
      stream = await dial()
    } catch (err) {
      // Hole punching replaces a relayed connection with a direct one and closes the relayed one:
      // a stream opened on it just then fails. Once more, on the connection that replaced it.
      if (signal.aborted || !CONNECTION_GONE.has((err as Error).name)) throw err
      await new Promise((resolve) => setTimeout(resolve, REOPEN_AFTER_CLOSE_MS))
      stream = await dial()
    }
    return new ChunkSession(stream, peerId, options)
  }

  constructor(stream: Stream, peerId: PeerId, init: ChunkSessionInit = {}) {
    this.stream = stream
    capMuxerFrames(stream, MUXER_FRAME_BYTES)
    deferWindowUpdates(stream)
    this.peerId = peerId
    this.hooks = { onChunk: init.onChunk, makeVoucher: init.makeVoucher }
    this.maxInFlight = init.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    this.responseTimeoutMs = init.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS
    this.drainTimeoutMs = init.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS
    this.peerScore = init.peerScore
    // Sub-millisecond: on a LAN the time to first byte is what sizes the fetch window.
    this.clock = init.clock ?? performance
    this.reader = new FrameReader(stream, {
      maxFrameBytes: init.maxFrameBytes ?? MAX_FRAME_BYTES,
      messageTimeoutMs: init.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS,
      highWaterBytes: init.readHighWaterBytes ?? DEFAULT_CLIENT_READ_HIGH_WATER_BYTES,
      clock: this.clock,
    })
    this.readLoopDone = this.readLoop().catch((err) => this.fail(err))
  }

  /** Requests sent and not yet answered, count. */
  get inFlight(): number {
    return this.outstanding.size
  }

  /**
   * Swaps the hooks (a pooled session passes from one fetch to the next; each has its own
   * bookkeeping). Requests already answered keep the hooks they were answered under.
   */
  setHooks(hooks: ClientHooks): void {
    this.hooks = { onChunk: hooks.onChunk, makeVoucher: hooks.makeVoucher }
  }

  /**
   * Resolves true once no request is outstanding (cancelled ones included: the server answers
   * each), false if that takes longer than `timeoutMs` or the session fails first.
   */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.outstanding.size === 0) return !this.closed
    const { promise, resolve } = Promise.withResolvers<boolean>()
    const timer = setTimeout(() => resolve(false), timeoutMs)
    timer.unref?.()
    this.drainWaiters.push(() => {
      clearTimeout(timer)
      resolve(this.outstanding.size === 0 && !this.closed)
    })
    return promise
  }

  /** Requests waiting locally for a slot on the wire, count. */
  get queued(): number {
    return this.slotWaiters.length
  }

  /** True once the session can take no more requests. */
  get closed(): boolean {
    return this.closing || this.failure !== undefined
  }

  /** Fetches one chunk; resolves only with bytes whose sha2-256 matches `cid`. */
  async get(cid: CID, options: RequestOptions = {}): Promise<Uint8Array> {
    const { response, firstByteAt, sentAt } = await this.request({ type: 'get', id: 0, cid }, options)
    if (response.type !== 'chunk') throw this.unexpected(response)
    try {
      await verifyChunk(cid, response.bytes)
    } catch (err) {
      if ((err as BwnodeError).code === ChunkErrorCode.CHUNK_HASH_MISMATCH) {
        this.peerScore?.record(this.peerId, ChunkErrorCode.CHUNK_HASH_MISMATCH)
      }
      throw err
    }
    const now = this.clock.now()
    this.hooks.onChunk?.(this.peerId, cid, response.bytes, {
      ttfbMs: Math.max(0, firstByteAt - sentAt),
      totalMs: now - sentAt,
    })
    this.payFor(response.bytes.length)
    return response.bytes
  }

  /** Which chunks of a dataset the peer holds, and its price. */
  async have(datasetCid: CID, options: RequestOptions = {}): Promise<HaveReply> {
    const { response } = await this.request({ type: 'have', id: 0, cid: datasetCid }, options)
    if (response.type !== 'have-reply') throw this.unexpected(response)
    return { bitfield: response.bitfield, pricePerGiB: response.pricePerGiB }
  }

  /** The raw manifest bytes of a dataset (the caller checks them against `datasetCid`). */
  async manifest(datasetCid: CID, options: RequestOptions = {}): Promise<Uint8Array> {
    const { response } = await this.request({ type: 'manifest', id: 0, cid: datasetCid }, options)
    if (response.type !== 'manifest-reply') throw this.unexpected(response)
    return response.bytes
  }

  /** Sends a voucher and waits for the server to accept it. */
  async pay(voucher: Uint8Array, options: RequestOptions = {}): Promise<void> {
    const { response } = await this.request({ type: 'pay', id: 0, voucher }, options)
    if (response.type !== 'pay-ack') throw this.unexpected(response)
  }

  /**
   * Ends the session gracefully: no new requests, outstanding ones are answered, then both ends
   * close. Waits at most the response timeout before resetting the stream.
   */
  async close(): Promise<void> {
    if (this.closing) return this.readLoopDone
    this.closing = true
    this.rejectSlotWaiters(new BwnodeError(ChunkErrorCode.STREAM_CLOSED, 'session closed'))
    try {
      await this.writeChain
      if (this.stream.writeStatus === 'writable') {
        await this.stream.close({ signal: AbortSignal.timeout(this.drainTimeoutMs) })
      }
      const timeout = new Promise<'timeout'>((resolve) => {
        setTimeout(resolve, this.responseTimeoutMs, 'timeout').unref?.()
      })
      if ((await Promise.race([this.readLoopDone, timeout])) === 'timeout') {
        this.abort(new BwnodeError(ChunkErrorCode.READ_TIMEOUT, 'server did not finish the session'))
      }
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Ends the session at once; outstanding requests reject with `err`. */
  abort(err: Error = new BwnodeError(ChunkErrorCode.ABORTED, 'session aborted')): void {
    this.fail(err)
  }

  private async request(
    req: Exclude<Request, { type: 'cancel' }>,
    options: RequestOptions,
  ): Promise<{ response: Response; firstByteAt: number; sentAt: number }> {
    const signal = options.signal
    signal?.throwIfAborted()
    this.assertOpen()
    const usesSlot = req.type !== 'pay'
    // Taking a free slot is synchronous so a burst of get() calls goes on the wire at once.
    const slotWait = usesSlot ? this.takeSlot(signal) : undefined
    if (slotWait !== undefined) await slotWait
    let slotHeld = usesSlot
    const releaseSlot = (): void => {
      if (!slotHeld) return
      slotHeld = false
      this.releaseSlot()
    }
    try {
      this.assertOpen()
      const id = this.nextId++
      const framed = concatParts(encodeRequest({ ...req, id }))
      const result = Promise.withResolvers<{ response: Response; firstByteAt: number; sentAt: number }>()
      const sentAt = this.clock.now()
      const entry: Outstanding = {
        kind: req.type,
        cid: req.type === 'pay' ? undefined : req.cid,
        sentAt,
        cancelled: false,
        resolve: (response, firstByteAt) => result.resolve({ response, firstByteAt, sentAt }),
        reject: (err) => result.reject(err),
      }
      this.outstanding.set(id, entry)
      this.touchWatchdog()
      this.enqueueWrite(framed)
      const onAbort = (): void => {
        entry.cancelled = true
        result.reject(new BwnodeError(ChunkErrorCode.ABORTED, 'request aborted'))
        // Tell the server, so a chunk still queued there is neither sent nor charged.
        if ((req.type === 'get' || req.type === 'manifest') && this.failure === undefined && !this.closing) {
          this.enqueueWrite(concatParts(encodeRequest({ type: 'cancel', id })))
        }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        const settled = await result.promise
        if (settled.response.type === 'error') {
          throw new BwnodeError(relayedCode(settled.response.code), settled.response.message)
        }
        return settled
      } finally {
        signal?.removeEventListener('abort', onAbort)
        // A cancelled request keeps its id in `outstanding` until the response arrives, but its
        // slot is given back now.
        releaseSlot()
      }
    } catch (err) {
      releaseSlot()
      throw err
    }
  }

  private assertOpen(): void {
    if (this.failure !== undefined) throw this.failure
    if (this.closing) throw new BwnodeError(ChunkErrorCode.STREAM_CLOSED, 'session closed')
  }

  /** Takes a slot now (returns undefined) or returns a promise that resolves with one. */
  private takeSlot(signal: AbortSignal | undefined): Promise<void> | undefined {
    if (this.slotsUsed < this.maxInFlight && this.slotWaiters.length === 0) {
      this.slotsUsed++
      return undefined
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        signal?.removeEventListener('abort', onAbort)
        if (this.failure !== undefined || this.closing) {
          reject(this.failure ?? new BwnodeError(ChunkErrorCode.STREAM_CLOSED, 'session closed'))
          return
        }
        this.slotsUsed++
        resolve()
      }
      const onAbort = (): void => {
        const index = this.slotWaiters.indexOf(waiter)
        if (index !== -1) this.slotWaiters.splice(index, 1)
        reject(new BwnodeError(ChunkErrorCode.ABORTED, 'request aborted'))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.slotWaiters.push(waiter)
    })
  }

  private releaseSlot(): void {
    this.slotsUsed--
    while (this.slotsUsed < this.maxInFlight) {
      const next = this.slotWaiters.shift()
      if (next === undefined) return
      next()
    }
  }

  private rejectSlotWaiters(_err: Error): void {
    // Each waiter sees `closing`/`failure` and rejects itself.
    const waiters = this.slotWaiters.splice(0)
    for (const waiter of waiters) waiter()
  }

  /** Writes are chained so frames never interleave and each waits for the previous to drain. */
  private enqueueWrite(framed: Uint8Array): void {
    this.writeChain = this.writeChain
      .then(() => {
        if (this.failure !== undefined) return
        return writeFrame(this.stream, [framed], this.drainTimeoutMs)
      })
      .catch((err) => this.fail(err))
  }

  /** After each verified chunk, send the voucher the ledger makes for it (pay as you go). */
  private payFor(bytes: number): void {
    const makeVoucher = this.hooks.makeVoucher
    if (makeVoucher === undefined) return
    void (async () => {
      const voucher = await makeVoucher(this.peerId, bytes)
      if (voucher === undefined || this.closed) return
      await this.pay(voucher)
    })().catch((err) => log('voucher to %p failed - %e', this.peerId, err))
  }

  private async readLoop(): Promise<void> {
    while (true) {
      const frame = await this.reader.next()
      if (frame === undefined) break
      const response = decodeResponse(frame.body)
      this.lastProgressAt = this.clock.now()
      if (response.id === STREAM_REQUEST_ID) {
        if (response.type !== 'error') {
          throw new ProtocolError(ChunkErrorCode.BAD_FRAME, 'response with request id 0')
        }
        // The server refused the whole stream (busy, dropped): every request fails with its code.
        this.fail(new BwnodeError(relayedCode(response.code), response.message))
        return
      }
      const entry = this.outstanding.get(response.id)
      if (entry === undefined) {
        throw new ProtocolError(ChunkErrorCode.BAD_FRAME, `response to unknown request ${response.id}`)
      }
      this.outstanding.delete(response.id)
      if (this.outstanding.size === 0) this.wakeDrainWaiters()
      if (!matches(entry.kind, response)) {
        throw new ProtocolError(ChunkErrorCode.BAD_FRAME, `${response.type} in answer to ${entry.kind}`)
      }
      if (!entry.cancelled) entry.resolve(response, frame.firstByteAt)
      if (response.type === 'error' && response.code === ChunkErrorCode.PAYMENT_DISCONNECT) {
        this.fail(new BwnodeError(response.code, response.message))
        return
      }
    }
    // The server closed its end: whatever is still outstanding will never be answered, and no
    // later request will be either.
    this.failure ??= new BwnodeError(ChunkErrorCode.STREAM_CLOSED, 'server closed the stream')
    this.rejectOutstanding(this.failure)
    this.stopWatchdog()
    this.reader.detach()
    if (this.stream.writeStatus === 'writable') {
      this.stream.close().catch((err) => this.stream.abort(err))
    }
  }

  private unexpected(response: Response): Error {
    return new ProtocolError(ChunkErrorCode.BAD_FRAME, `unexpected ${response.type}`)
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return
    const error = err instanceof Error ? err : new Error(String(err))
    this.failure = error
    const code = error instanceof BwnodeError ? error.code : ChunkErrorCode.STREAM_CLOSED
    if (error instanceof ProtocolError && code !== ChunkErrorCode.STREAM_CLOSED) {
      this.peerScore?.record(this.peerId, code)
    }
    log('session with %p failed with %s: %s', this.peerId, code, error.message)
    this.stopWatchdog()
    this.rejectOutstanding(error)
    this.rejectSlotWaiters(error)
    this.reader.detach()
    this.stream.abort(error)
  }

  private rejectOutstanding(err: Error): void {
    const entries = [...this.outstanding.values()]
    this.outstanding.clear()
    for (const entry of entries) entry.reject(err)
    this.wakeDrainWaiters()
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const wake of waiters) wake()
  }

  /** Fails the session when requests are outstanding and no response came for too long. */
  private touchWatchdog(): void {
    if (this.watchdog !== undefined) return
    this.lastProgressAt = this.clock.now()
    const check = (): void => {
      this.watchdog = undefined
      if (this.outstanding.size === 0 || this.failure !== undefined) return
      const quietMs = this.clock.now() - this.lastProgressAt
      if (quietMs >= this.responseTimeoutMs) {
        this.fail(new ProtocolError(ChunkErrorCode.READ_TIMEOUT, `no response for ${quietMs} ms`))
        return
      }
      this.watchdog = setTimeout(check, this.responseTimeoutMs - quietMs)
      this.watchdog.unref?.()
    }
    this.watchdog = setTimeout(check, this.responseTimeoutMs)
    this.watchdog.unref?.()
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog)
    this.watchdog = undefined
  }
}

function matches(kind: Kind, response: Response): boolean {
  switch (response.type) {
    case 'error':
      return true
    case 'chunk':
      return kind === 'get'
    case 'have-reply':
      return kind === 'have'
    case 'manifest-reply':
      return kind === 'manifest'
    case 'pay-ack':
      return kind === 'pay'
  }
}
