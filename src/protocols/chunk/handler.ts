import type { Connection, PeerId, Stream, StreamCloseEvent, StreamHandler } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { BwnodeError, errorMessage, ProtocolError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'
import {
  CHUNK_PROTOCOL,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_MAX_OUTBOUND_STREAMS,
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_MAX_REQUEST_FRAME_BYTES,
  DEFAULT_MESSAGE_TIMEOUT_MS,
  DEFAULT_READ_HIGH_WATER_BYTES,
  DEFAULT_SERVE_PREFETCH,
  MAX_CHUNK_BYTES,
  MUXER_FRAME_BYTES,
} from './constants.ts'
import { FrameReader } from './frame-reader.ts'
import { writeFrame } from './frame-writer.ts'
import { decodeRequest, encodeResponse, type Request, type Response, STREAM_REQUEST_ID } from './messages.ts'
import { capMuxerFrames } from './muxer-frames.ts'
import { Notifier } from './notifier.ts'
import { PeerScore } from './peer-score.ts'
import type { ChunkSource, Clock, ServePolicy } from './types.ts'
import { readVarint } from './varint.ts'

const log = logger('bwnode:chunk:server')

export interface ChunkServerInit {
  /** Requests held per stream before the server stops reading, count. */
  maxQueuedRequests?: number
  /** Store reads started ahead of the response being written, count. */
  servePrefetch?: number
  /** A started frame must complete within this many ms. */
  messageTimeoutMs?: number
  /** A stream with nothing to do for this many ms is closed. */
  idleTimeoutMs?: number
  /** A peer that does not read for this many ms while we write is aborted. */
  drainTimeoutMs?: number
  /** Largest request frame body accepted, in bytes. */
  maxRequestFrameBytes?: number
  /** Bytes of unread requests buffered before the stream is paused. */
  readHighWaterBytes?: number
  /** libp2p handle() limits per connection, count. */
  maxInboundStreams?: number
  maxOutboundStreams?: number
  /** Shared misbehaviour counter; pass one to share it with other protocols. */
  peerScore?: PeerScore
  clock?: Clock
}

/** Codes that mean the peer broke the protocol (counted in PeerScore), as opposed to going away. */
const VIOLATION_CODES = new Set<string>([
  ChunkErrorCode.BAD_FRAME,
  ChunkErrorCode.BAD_REQUEST,
  ChunkErrorCode.FRAME_TOO_LARGE,
  ChunkErrorCode.READ_TIMEOUT,
  ChunkErrorCode.DRAIN_TIMEOUT,
  ChunkErrorCode.UNEXPECTED_EOF,
])

type Resolved = Required<Omit<ChunkServerInit, 'peerScore' | 'clock'>> & {
  peerScore: PeerScore
  clock: Clock
}

/** A request waiting to be answered, with its store read possibly already started. */
interface Job {
  request: Request | { type: 'invalid'; id: number; message: string }
  /** The store read (GET/MANIFEST/HAVE), started up to `servePrefetch` jobs ahead. */
  loaded?: Promise<Uint8Array | Error | undefined>
}

/**
 * Serves `/bwnode/chunk/1.0.0`. One instance serves every inbound stream of a node; each stream
 * runs a read loop (frames -> bounded job queue) and a serve loop (jobs -> responses, in order).
 */
export class ChunkServer {
  readonly peerScore: PeerScore
  private readonly source: ChunkSource
  private readonly policy: ServePolicy
  private readonly init: Resolved
  /** Admitted streams, each with a promise that settles once its slot is given back. */
  private readonly streams = new Map<ServerStream, Promise<void>>()

  constructor(source: ChunkSource, policy: ServePolicy = {}, init: ChunkServerInit = {}) {
    this.source = source
    this.policy = policy
    this.peerScore = init.peerScore ?? new PeerScore({ clock: init.clock })
    this.init = {
      maxQueuedRequests: init.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS,
      servePrefetch: init.servePrefetch ?? DEFAULT_SERVE_PREFETCH,
      messageTimeoutMs: init.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS,
      idleTimeoutMs: init.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      drainTimeoutMs: init.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      maxRequestFrameBytes: init.maxRequestFrameBytes ?? DEFAULT_MAX_REQUEST_FRAME_BYTES,
      readHighWaterBytes: init.readHighWaterBytes ?? DEFAULT_READ_HIGH_WATER_BYTES,
      maxInboundStreams: init.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS,
      maxOutboundStreams: init.maxOutboundStreams ?? DEFAULT_MAX_OUTBOUND_STREAMS,
      peerScore: this.peerScore,
      clock: init.clock ?? Date,
    }
    this.handle = this.handle.bind(this)
  }

  /** Streams currently being served (admitted and not yet finished), count. */
  get activeStreams(): number {
    return this.streams.size
  }

  /** Requests parsed and not yet answered, over all streams, count. */
  get heldRequests(): number {
    let n = 0
    for (const s of this.streams.keys()) n += s.held
    return n
  }

  /** Request bytes received but not yet parsed, over all streams (excludes transport buffers). */
  get bufferedRequestBytes(): number {
    let n = 0
    for (const s of this.streams.keys()) n += s.bufferedBytes
    return n
  }

  /** The options to pass to libp2p.handle(). */
  get handleOptions(): {
    maxInboundStreams: number
    maxOutboundStreams: number
    runOnLimitedConnection: true
  } {
    return {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: this.init.maxOutboundStreams,
      // Served on a relay's limited circuit too: the serve policy applies per peer, not per connection.
      runOnLimitedConnection: true,
    }
  }

  /** The libp2p stream handler. Never throws: every failure ends in stream.abort(). */
  async handle(stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer
    try {
      if (this.peerScore.shouldDrop(peerId)) {
        await this.refuse(stream, ChunkErrorCode.PEER_DROPPED, 'too many protocol violations')
        return
      }
      let release: (() => void) | undefined
      if (this.policy.admit !== undefined) {
        release = this.policy.admit(peerId)
        // A client may keep a finished stream open for its next fetch (a warm window): at the
        // limit, the stream idle longest gives its slot to one that has work.
        if (release === undefined && (await this.reclaimIdleStream())) release = this.policy.admit(peerId)
        if (release === undefined) {
          await this.refuse(stream, ChunkErrorCode.BUSY, 'server at its concurrency limit')
          return
        }
      }
      const serverStream = new ServerStream(stream, peerId, this.source, this.policy, this.init)
      const ended = Promise.withResolvers<void>()
      this.streams.set(serverStream, ended.promise)
      try {
        await serverStream.run()
      } finally {
        this.streams.delete(serverStream)
        release?.()
        ended.resolve()
      }
    } catch (err) {
      // Only reachable through a bug in this module; the node must survive it anyway.
      log.error('chunk handler failed for %p - %e', peerId, err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Ends the admitted stream idle longest, if any, and resolves true once its slot is free. */
  private async reclaimIdleStream(): Promise<boolean> {
    let oldest: ServerStream | undefined
    for (const s of this.streams.keys()) {
      const since = s.idleSince
      if (since !== undefined && (oldest === undefined || since < (oldest.idleSince as number))) oldest = s
    }
    if (oldest === undefined) return false
    const ended = this.streams.get(oldest)
    oldest.endIdle()
    await ended
    return true
  }

  /** Answers a stream-level ERROR (request id 0) and ends the stream without reading it. */
  private async refuse(stream: Stream, code: string, message: string): Promise<void> {
    try {
      await writeFrame(
        stream,
        encodeResponse({ type: 'error', id: STREAM_REQUEST_ID, code, message }),
        this.init.drainTimeoutMs,
      )
      await stream.close({ signal: AbortSignal.timeout(this.init.drainTimeoutMs) })
      abortIfStillOpen(stream, this.init.idleTimeoutMs, message)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

/** One inbound stream: its queue, timers and loops. */
class ServerStream {
  private readonly stream: Stream
  private readonly peerId: PeerId
  private readonly source: ChunkSource
  private readonly policy: ServePolicy
  private readonly init: Resolved
  private readonly reader: FrameReader
  private readonly abortController = new AbortController()
  private readonly changed = new Notifier()
  private readonly queued: Job[] = []
  /** Ids of GET/MANIFEST requests accepted and not yet answered (what a CANCEL may name). */
  private readonly waiting = new Set<number>()
  /** Ids withdrawn by the client: answered with a short ERR_CANCELLED instead of the bytes. */
  private readonly cancelled = new Set<number>()
  /** Jobs taken off the queue and not yet fully written (prefetched plus the one being sent). */
  private inService = 0
  private readDone = false
  private failed = false
  /** Set when the stream ends on ERR_PAYMENT_DISCONNECT: the peer's connection goes too. */
  private disconnecting = false
  private requestsSeen = 0
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private idleAt = 0

  constructor(stream: Stream, peerId: PeerId, source: ChunkSource, policy: ServePolicy, init: Resolved) {
    this.stream = stream
    capMuxerFrames(stream, MUXER_FRAME_BYTES)
    this.peerId = peerId
    this.source = source
    this.policy = policy
    this.init = init
    this.reader = new FrameReader(stream, {
      maxFrameBytes: init.maxRequestFrameBytes,
      messageTimeoutMs: init.messageTimeoutMs,
      highWaterBytes: init.readHighWaterBytes,
      clock: init.clock,
    })
  }

  get held(): number {
    return this.queued.length + this.inService
  }

  /** When this stream last ran out of work (clock ms), or undefined while it has some. */
  get idleSince(): number | undefined {
    return this.idleTimer === undefined || this.held > 0 || this.reader.midFrame ? undefined : this.idleAt
  }

  /** Ends an idle stream as its idle timeout would, without counting it against the peer. */
  endIdle(): void {
    if (this.idleSince === undefined) return
    this.clearIdleTimer()
    this.fail(new ProtocolError(ChunkErrorCode.IDLE_TIMEOUT, 'idle stream closed for another client'))
  }

  get bufferedBytes(): number {
    return this.reader.bufferedBytes
  }

  async run(): Promise<void> {
    this.armIdleTimer()
    // A reset or transport failure must stop both loops even while they wait on hooks.
    const onClose = (evt: StreamCloseEvent): void => {
      if (evt.error !== undefined)
        this.fail(new ProtocolError(ChunkErrorCode.STREAM_CLOSED, evt.error.message))
    }
    this.stream.addEventListener('close', onClose)
    try {
      await Promise.all([
        this.readLoop().catch((err) => this.fail(err)),
        this.serveLoop().catch((err) => this.fail(err)),
      ])
      if (!this.failed) await this.finish()
      // Only now, with the ERROR frame flushed ahead of our FIN, may the connection go: closed
      // first, it could drop the frame and leave the peer guessing why. A peer whose stream
      // failed while we answered (it stopped reading) is disconnected all the same.
      if (this.disconnecting) await this.disconnectPeer()
    } finally {
      this.stream.removeEventListener('close', onClose)
      this.clearIdleTimer()
      this.reader.detach()
    }
  }

  /** Frames -> jobs. Stops reading while the queue is full (the reader then pauses the stream). */
  private async readLoop(): Promise<void> {
    while (!this.failed) {
      while (this.held >= this.init.maxQueuedRequests && !this.failed) await this.changed.wait()
      if (this.failed) return
      const frame = await this.reader.next()
      if (frame === undefined) break
      this.requestsSeen++
      const request = this.parse(frame.body)
      if (request.type === 'cancel') {
        // Only requests still waiting here can be withdrawn; late or unknown cancels are ignored.
        if (this.waiting.has(request.id)) this.cancelled.add(request.id)
        continue
      }
      if (request.type === 'get' || request.type === 'manifest') this.waiting.add(request.id)
      this.queued.push({ request })
      this.clearIdleTimer()
      this.changed.notify()
    }
    this.readDone = true
    this.changed.notify()
  }

  /** A malformed request with a readable id gets an ERROR reply; one without is fatal. */
  private parse(body: Uint8Array): Job['request'] {
    try {
      return decodeRequest(body)
    } catch (err) {
      const id = peekRequestId(body)
      if (id === undefined) throw err
      this.init.peerScore.record(this.peerId, ChunkErrorCode.BAD_REQUEST)
      return { type: 'invalid', id, message: errorMessage(err) }
    }
  }

  /** Jobs -> responses, strictly in request order, store reads overlapped with writes. */
  private async serveLoop(): Promise<void> {
    const working: Job[] = []
    while (!this.failed) {
      while (working.length <= this.init.servePrefetch && this.queued.length > 0) {
        const job = this.queued.shift() as Job
        job.loaded = this.load(job.request)
        this.inService++
        working.push(job)
      }
      const job = working.shift()
      if (job === undefined) {
        if (this.readDone) return
        await this.changed.wait()
        continue
      }
      const keepGoing = await this.serve(job)
      this.inService--
      if (this.held === 0) this.armIdleTimer()
      this.changed.notify()
      if (!keepGoing) {
        // Stop reading (no more requests will be answered), flush, close our end.
        this.failed = true
        this.reader.detach()
        this.changed.notify()
        await this.finish()
        abortIfStillOpen(this.stream, this.init.idleTimeoutMs, 'stream ended by the server')
        return
      }
    }
  }

  /** Starts the store read a job needs. Never rejects: a store fault becomes an Error value. */
  private load(request: Job['request']): Promise<Uint8Array | Error | undefined> | undefined {
    let read: Promise<Uint8Array | undefined>
    switch (request.type) {
      case 'get':
        read = this.source.getChunk(request.cid)
        break
      case 'manifest':
        read = this.source.getManifestBytes(request.cid)
        break
      case 'have':
        read = this.source.haveMap(request.cid)
        break
      default:
        return undefined
    }
    return read.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))
  }

  /** Answers one job. Returns false when the stream must end after this answer. */
  private async serve(job: Job): Promise<boolean> {
    const { request } = job
    let response: Response
    let served: { cid: CID; bytes: number } | undefined
    try {
      switch (request.type) {
        case 'cancel':
          // Never queued (handled in the read loop); here only to keep the switch exhaustive.
          return true
        case 'invalid':
          response = {
            type: 'error',
            id: request.id,
            code: ChunkErrorCode.BAD_REQUEST,
            message: request.message,
          }
          break
        case 'pay':
          await this.guard(this.policy.onVoucher?.(this.peerId, request.voucher))
          response = { type: 'pay-ack', id: request.id }
          break
        case 'have': {
          const bitfield = await this.loaded(job, 'have-map')
          // After the store read: a node that does not hold the dataset says so, lending or not.
          await this.guard(this.policy.beforeHave?.(this.peerId))
          response = {
            type: 'have-reply',
            id: request.id,
            pricePerGiB: this.policy.price?.() ?? 0,
            bitfield,
          }
          break
        }
        case 'get':
        case 'manifest': {
          this.waiting.delete(request.id)
          if (this.cancelled.delete(request.id)) {
            // Withdrawn while queued (another provider delivered it first): neither charged nor sent.
            response = { type: 'error', id: request.id, code: ChunkErrorCode.CANCELLED, message: 'cancelled' }
            break
          }
          const bytes = await this.loaded(job, request.type === 'get' ? 'chunk' : 'manifest')
          await this.guard(this.policy.beforeServe?.(this.peerId, bytes.length))
          await this.guard(this.policy.pace?.(bytes.length, this.abortController.signal))
          response =
            request.type === 'get'
              ? { type: 'chunk', id: request.id, bytes }
              : { type: 'manifest-reply', id: request.id, bytes }
          served = { cid: request.cid, bytes: bytes.length }
          break
        }
      }
    } catch (err) {
      if (this.failed) return false
      const code =
        request.type === 'pay' && !(err instanceof BwnodeError)
          ? ChunkErrorCode.BAD_VOUCHER
          : errorCodeFor(err)
      const message = err instanceof BwnodeError ? err.message : 'request failed'
      if (code === ChunkErrorCode.INTERNAL) log.error('serving %p failed - %e', this.peerId, err)
      if (code === ChunkErrorCode.PAYMENT_DISCONNECT) this.disconnecting = true
      await this.write({ type: 'error', id: request.id, code, message })
      return !this.disconnecting
    }
    await this.write(response)
    if (served !== undefined) this.policy.onServed?.(this.peerId, served.cid, served.bytes)
    return true
  }

  /**
   * Waits for a hook or store read, but gives up as soon as the stream fails: a hook that
   * ignores the signal must not keep a dead stream's slot.
   */
  private async guard<T>(work: T | Promise<T>): Promise<T> {
    const signal = this.abortController.signal
    signal.throwIfAborted()
    if (!(work instanceof Promise)) return work
    const aborted = Promise.withResolvers<never>()
    const onAbort = (): void => aborted.reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await Promise.race([work, aborted.promise])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async loaded(job: Job, what: string): Promise<Uint8Array> {
    const value = await this.guard(job.loaded)
    if (value instanceof Error) throw value
    if (value === undefined) throw new BwnodeError(ChunkErrorCode.NOT_FOUND, `${what} not held here`)
    if (value.length > MAX_CHUNK_BYTES) {
      throw new BwnodeError(ChunkErrorCode.TOO_LARGE, `${what} of ${value.length} bytes exceeds a frame`)
    }
    return value
  }

  private async write(response: Response): Promise<void> {
    await writeFrame(
      this.stream,
      encodeResponse(response),
      this.init.drainTimeoutMs,
      this.abortController.signal,
    )
  }

  /** Hands the peer to the policy's disconnect hook; its failure must not escape the handler. */
  private async disconnectPeer(): Promise<void> {
    try {
      await this.policy.disconnect?.(this.peerId)
    } catch (err) {
      log.error('disconnecting %p failed - %e', this.peerId, err)
    }
  }

  /** Closes our writable end after the last response; the peer closes its own. */
  private async finish(): Promise<void> {
    try {
      if (this.stream.writeStatus === 'writable') {
        await this.stream.close({ signal: AbortSignal.timeout(this.init.drainTimeoutMs) })
      }
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Any failure ends the stream at once; protocol violations count against the peer. */
  private fail(err: unknown): void {
    if (this.failed) return
    this.failed = true
    const error = err instanceof Error ? err : new Error(String(err))
    const code = err instanceof BwnodeError ? err.code : ChunkErrorCode.STREAM_CLOSED
    if (VIOLATION_CODES.has(code)) this.init.peerScore.record(this.peerId, code)
    log('stream from %p failed with %s: %s', this.peerId, code, error.message)
    this.abortController.abort(error)
    this.clearIdleTimer()
    this.stream.abort(error)
    this.reader.detach()
    this.changed.notify()
  }

  private armIdleTimer(): void {
    this.clearIdleTimer()
    this.idleAt = this.init.clock.now()
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.held > 0 || this.reader.midFrame) return
      // A peer that opened a stream and never asked for anything is counted; one that went
      // quiet after using the stream is simply closed.
      if (this.requestsSeen === 0) this.init.peerScore.record(this.peerId, ChunkErrorCode.IDLE_TIMEOUT)
      this.fail(new ProtocolError(ChunkErrorCode.IDLE_TIMEOUT, `idle for ${this.init.idleTimeoutMs} ms`))
    }, this.init.idleTimeoutMs)
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }
}

/**
 * After we closed our end the peer should close its own; if it has not within `ms`, reset the
 * stream so a half-open stream holds nothing.
 */
function abortIfStillOpen(stream: Stream, ms: number, reason: string): void {
  if (stream.status !== 'open') return
  const timer = setTimeout(() => {
    if (stream.status === 'open') {
      stream.abort(new ProtocolError(ChunkErrorCode.STREAM_CLOSED, reason))
    }
  }, ms)
  timer.unref?.()
  stream.addEventListener('close', () => clearTimeout(timer), { once: true })
}

/** The code a hook's error carries to the peer; internal faults are not described. */
function errorCodeFor(err: unknown): string {
  return err instanceof BwnodeError ? err.code : ChunkErrorCode.INTERNAL
}

/** The request id of a frame whose body failed to parse, if the header itself is sound. */
function peekRequestId(body: Uint8Array): number | undefined {
  try {
    const id = readVarint(body, 1)
    return id !== undefined && id.value !== STREAM_REQUEST_ID ? id.value : undefined
  } catch {
    return undefined
  }
}

/** A StreamHandler serving `source` under `policy`, for libp2p.handle(). */
export function chunkProtocolHandler(
  source: ChunkSource,
  policy: ServePolicy = {},
  init: ChunkServerInit = {},
): StreamHandler {
  return new ChunkServer(source, policy, init).handle
}

/** Registers the chunk protocol on a node; returns the server (stats, peer score). */
export async function registerChunkProtocol(
  libp2p: {
    handle(
      protocol: string,
      handler: StreamHandler,
      options?: { maxInboundStreams?: number; maxOutboundStreams?: number },
    ): Promise<void>
  },
  source: ChunkSource,
  policy: ServePolicy = {},
  init: ChunkServerInit = {},
): Promise<ChunkServer> {
  const server = new ChunkServer(source, policy, init)
  await libp2p.handle(CHUNK_PROTOCOL, server.handle, server.handleOptions)
  return server
}
