import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { ProtocolError } from '../../errors/index.ts'
import { ByteQueue } from './byte-queue.ts'
import { ChunkErrorCode } from './codes.ts'
import type { Clock } from './types.ts'
import { MAX_VARINT_BYTES, readVarint, varintLength } from './varint.ts'

export interface FrameReaderInit {
  /** Largest frame body accepted; a larger length prefix fails the reader. */
  maxFrameBytes: number
  /** Once a frame's first byte is here, the whole frame must be within this many ms. */
  messageTimeoutMs: number
  /** Bytes buffered beyond the frame at the front before the stream is paused. */
  highWaterBytes: number
  clock: Clock
}

export interface Frame {
  body: Uint8Array
  /** When the first byte of this frame (its length prefix) arrived. */
  firstByteAt: number
}

type HeadStatus =
  | { kind: 'empty' }
  | { kind: 'partial' }
  | { kind: 'complete'; prefixBytes: number; bodyBytes: number }

/**
 * Pulls length-prefixed frames (unsigned varint length, then the body) off a libp2p stream.
 *
 * Backpressure: bytes are taken from the stream as they arrive, but once more than
 * `highWaterBytes` sit behind a complete frame that nobody has asked for, the stream is paused
 * (yamux then stops granting window, so the remote's sends block) and resumed when the owner
 * catches up. A malformed or oversized length, a frame that starts but does not finish within
 * the message timeout, or a stream that ends mid-frame fails the reader: `next()` rejects and the
 * owner aborts the stream.
 */
export class FrameReader {
  private readonly stream: Stream
  private readonly init: FrameReaderInit
  private readonly queue = new ByteQueue()
  private readonly maxPrefixBytes: number
  private waiter: PromiseWithResolvers<void> | undefined
  private remoteEnded = false
  private failure: Error | undefined
  private messageTimer: ReturnType<typeof setTimeout> | undefined
  private pausedByUs = false
  private detached = false

  constructor(stream: Stream, init: FrameReaderInit) {
    this.stream = stream
    this.init = init
    this.maxPrefixBytes = Math.min(MAX_VARINT_BYTES, varintLength(init.maxFrameBytes))
    this.onMessage = this.onMessage.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onRemoteCloseWrite = this.onRemoteCloseWrite.bind(this)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    if (stream.remoteWriteStatus !== 'writable') this.remoteEnded = true
  }

  /** Bytes held by the reader that no frame has been returned for yet. */
  get bufferedBytes(): number {
    return this.queue.byteLength
  }

  /** True when part of a frame has arrived (the message timer is running). */
  get midFrame(): boolean {
    return this.messageTimer !== undefined
  }

  /** The next frame, or undefined when the remote closed cleanly between frames. */
  async next(): Promise<Frame | undefined> {
    while (true) {
      // Frames that arrived whole are delivered even when the stream was reset after them
      // (a server sends a final ERROR and then resets).
      const head = this.headStatus()
      if (head.kind === 'complete') return this.takeFrame(head.prefixBytes, head.bodyBytes)
      if (this.failure !== undefined) throw this.failure
      if (this.remoteEnded && this.streamBufferEmpty()) {
        if (head.kind === 'empty') return undefined
        this.fail(new ProtocolError(ChunkErrorCode.UNEXPECTED_EOF, 'stream ended inside a frame'))
        continue
      }
      this.resumeIfPaused()
      this.waiter = Promise.withResolvers<void>()
      await this.waiter.promise
    }
  }

  /** Stops listening to the stream and drops buffered bytes. Safe to call twice. */
  detach(): void {
    if (this.detached) return
    this.detached = true
    this.clearMessageTimer()
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.queue.clear()
    if (this.failure === undefined) {
      this.failure = new ProtocolError(ChunkErrorCode.STREAM_CLOSED, 'frame reader detached')
    }
    this.wake()
  }

  private onMessage(evt: StreamMessageEvent): void {
    const now = this.init.clock.now()
    const data = evt.data
    if (data instanceof Uint8Array) {
      this.queue.push(data, now)
    } else {
      for (const part of data) this.queue.push(part, now)
    }
    this.afterChange()
    this.wake()
  }

  private onClose(evt: StreamCloseEvent): void {
    this.remoteEnded = true
    if (evt.error !== undefined && this.failure === undefined) {
      this.failure = new ProtocolError(ChunkErrorCode.STREAM_CLOSED, `stream closed: ${evt.error.message}`)
    }
    this.clearMessageTimer()
    this.wake()
  }

  private onRemoteCloseWrite(): void {
    this.remoteEnded = true
    this.wake()
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.resolve()
  }

  private fail(err: Error): void {
    if (this.failure === undefined) this.failure = err
    this.clearMessageTimer()
    this.wake()
  }

  private streamBufferEmpty(): boolean {
    return this.stream.readBufferLength === 0 || this.stream.status !== 'open'
  }

  private headStatus(): HeadStatus {
    if (this.queue.byteLength === 0) return { kind: 'empty' }
    let prefix: ReturnType<typeof readVarint>
    const head = this.queue.peek(MAX_VARINT_BYTES)
    try {
      prefix = readVarint(head, 0, MAX_VARINT_BYTES)
    } catch (err) {
      this.fail(err as Error)
      return { kind: 'partial' }
    }
    // A length still unfinished after the bytes the largest allowed length takes is too large,
    // whatever its remaining bytes say: no need to wait for them.
    const unfinishedTooLong = prefix === undefined && head.length >= this.maxPrefixBytes
    if (unfinishedTooLong || (prefix !== undefined && prefix.value > this.init.maxFrameBytes)) {
      this.fail(
        new ProtocolError(
          ChunkErrorCode.FRAME_TOO_LARGE,
          `frame of ${prefix?.value ?? 'unbounded'} bytes exceeds the limit of ${this.init.maxFrameBytes}`,
        ),
      )
      return { kind: 'partial' }
    }
    if (prefix === undefined) return { kind: 'partial' }
    if (prefix.value === 0) {
      // Every message has at least a type byte: an empty frame is never valid.
      this.fail(new ProtocolError(ChunkErrorCode.BAD_FRAME, 'empty frame'))
      return { kind: 'partial' }
    }
    if (this.queue.byteLength < prefix.size + prefix.value) return { kind: 'partial' }
    return { kind: 'complete', prefixBytes: prefix.size, bodyBytes: prefix.value }
  }

  private takeFrame(prefixBytes: number, bodyBytes: number): Frame {
    const firstByteAt = this.queue.headArrival() ?? this.init.clock.now()
    this.queue.skip(prefixBytes)
    const body = this.queue.read(bodyBytes)
    this.afterChange()
    return { body, firstByteAt }
  }

  /** Re-evaluates the message timer and the pause state after bytes came or went. */
  private afterChange(): void {
    if (this.failure !== undefined) return
    const head = this.headStatus()
    if (head.kind === 'partial') {
      // A fresh timer per frame: it starts when the frame's first byte is at the front.
      if (this.messageTimer === undefined) {
        this.messageTimer = setTimeout(() => {
          this.messageTimer = undefined
          this.fail(
            new ProtocolError(
              ChunkErrorCode.READ_TIMEOUT,
              `frame not completed within ${this.init.messageTimeoutMs} ms`,
            ),
          )
        }, this.init.messageTimeoutMs)
      }
    } else {
      this.clearMessageTimer()
    }
    if (head.kind === 'complete') {
      const behind = this.queue.byteLength - head.prefixBytes - head.bodyBytes
      if (behind > this.init.highWaterBytes) this.pause()
      else this.resumeIfPaused()
    } else {
      // Never hold the stream paused while the frame at the front is incomplete: that would
      // stall until the message timer fires.
      this.resumeIfPaused()
    }
  }

  private clearMessageTimer(): void {
    if (this.messageTimer !== undefined) clearTimeout(this.messageTimer)
    this.messageTimer = undefined
  }

  private pause(): void {
    if (this.pausedByUs || this.stream.readStatus !== 'readable') return
    this.pausedByUs = true
    this.stream.pause()
  }

  private resumeIfPaused(): void {
    if (!this.pausedByUs) return
    this.pausedByUs = false
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }
}
