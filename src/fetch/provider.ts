import type { PeerId } from '@libp2p/interface'
import {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_MAX_WINDOW,
  DEFAULT_MIN_WINDOW,
  RATE_SAMPLE_WINDOW,
} from './constants.ts'
import type { ProviderHint, ProviderReport, ProviderSession } from './types.ts'

interface Completion {
  at: number
  bytes: number
}

/**
 * What the scheduler knows about one provider: its session, which chunks it
 * has, and live estimates of RTT and throughput from which its window (requests
 * in flight) is sized by Little's law: window = rate x RTT / chunk size.
 */
export class ProviderState {
  readonly peer: PeerId
  readonly session: ProviderSession
  readonly has: Set<number>
  readonly hint: ProviderHint
  inFlight = 0
  bytes = 0
  chunks = 0
  failures = 0
  badChunks = 0
  dropped: string | null = null
  window: number
  initialEstimateMs: number | null = null
  private minRttMs: number | undefined
  private readonly completions: Completion[] = []
  private readonly maxWindow: number
  private readonly minWindow: number

  constructor(
    peer: PeerId,
    session: ProviderSession,
    has: Set<number>,
    hint: ProviderHint,
    maxWindow = DEFAULT_MAX_WINDOW,
    minWindow = DEFAULT_MIN_WINDOW,
  ) {
    this.peer = peer
    this.session = session
    this.has = has
    this.hint = hint
    this.maxWindow = Math.max(1, maxWindow)
    // The cap wins over the floor: maxWindow 1 means strictly one request at a time.
    this.minWindow = Math.min(this.maxWindow, Math.max(1, minWindow))
    this.minRttMs = hint.rttMs
    this.window = this.clampWindow(DEFAULT_INITIAL_WINDOW)
  }

  private clampWindow(requests: number): number {
    return Math.min(this.maxWindow, Math.max(this.minWindow, requests))
  }

  get active(): boolean {
    return this.dropped === null
  }

  /** Best known round trip: the lowest of the hint and every time-to-first-byte seen. */
  get rttMs(): number | undefined {
    return this.minRttMs
  }

  /** Bytes/s over the recent completions, or the best prior guess. */
  rateBytesPerSec(): number | undefined {
    const first = this.completions[0]
    const last = this.completions[this.completions.length - 1]
    if (first !== undefined && last !== undefined && this.completions.length >= 3 && last.at > first.at) {
      let bytes = 0
      for (let i = 1; i < this.completions.length; i++) bytes += this.completions[i]!.bytes
      return (bytes * 1000) / (last.at - first.at)
    }
    return this.hint.measuredBytesPerSec ?? this.hint.offeredBytesPerSec
  }

  /**
   * Expected ms until a new request sent now would complete: one round trip
   * plus draining everything queued ahead of it at the measured rate.
   */
  estimateMs(chunkBytes: number): number {
    const rtt = this.rttMs ?? 50
    const rate = this.rateBytesPerSec()
    const perChunkMs = rate === undefined || rate <= 0 ? 20 : (chunkBytes * 1000) / rate
    return rtt + (this.inFlight + 1) * perChunkMs + this.failures * perChunkMs
  }

  onTtfb(ms: number): void {
    if (ms > 0 && (this.minRttMs === undefined || ms < this.minRttMs)) this.minRttMs = ms
  }

  onComplete(bytes: number, now: number, chunkBytes: number): void {
    this.bytes += bytes
    this.chunks += 1
    this.completions.push({ at: now, bytes })
    if (this.completions.length > RATE_SAMPLE_WINDOW) this.completions.shift()
    this.resize(chunkBytes)
  }

  /**
   * Little's law with headroom: enough requests to cover one RTT at the
   * measured rate, plus one, so the pipe never drains between responses. While
   * the window limits the rate, the measured rate grows with it, so the window
   * keeps growing until the link (not the window) is the bottleneck.
   */
  private resize(chunkBytes: number): void {
    const rate = this.rateBytesPerSec()
    const rtt = this.rttMs
    if (rate === undefined || rtt === undefined) return
    const perChunkMs = (chunkBytes * 1000) / rate
    const needed = Math.ceil((rtt + perChunkMs) / perChunkMs) + 1
    this.window = this.clampWindow(needed)
  }

  report(): ProviderReport {
    const rate = this.rateBytesPerSec()
    return {
      peerId: this.peer.toString(),
      bytes: this.bytes,
      chunks: this.chunks,
      had: this.has.size,
      rttMs: this.rttMs === undefined ? null : Number(this.rttMs.toFixed(3)),
      rttSource: this.hint.rttSource ?? 'unknown',
      rateMBps: rate === undefined ? null : Number((rate / 1e6).toFixed(3)),
      window: this.window,
      failures: this.failures,
      badChunks: this.badChunks,
      dropped: this.dropped,
      initialEstimateMs: this.initialEstimateMs === null ? null : Number(this.initialEstimateMs.toFixed(3)),
    }
  }
}
