import type { PeerId } from '@libp2p/interface'
import {
  DEFAULT_INITIAL_WINDOW,
  DEFAULT_MAX_WINDOW,
  DEFAULT_MIN_WINDOW,
  FAILURE_HALF_LIFE_MS,
  MAX_REMEMBERED_FAILURES,
  RATE_SAMPLE_WINDOW,
} from './constants.ts'
import type { ProviderHint, ProviderReport, ProviderSession } from './types.ts'

interface Completion {
  at: number
  bytes: number
  /** When the request was sent. */
  startedAt: number
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
  /** Expected bytes of the requests in flight (the scheduler keeps it). */
  inFlightBytes = 0
  bytes = 0
  chunks = 0
  failures = 0
  badChunks = 0
  dropped: string | null = null
  window: number
  initialEstimateMs: number | null = null
  private minTtfbMs: number | undefined
  /** Lowest network round trip measured by ping (the hint's, or the fetcher's probes), ms. */
  private minNetworkRttMs: number | undefined
  private readonly completions: Completion[] = []

  /**
   * Chunks this provider delivered after `since` (performance.now() ms), of the recent ones kept,
   * and when the last of them arrived.
   */
  deliveredSince(since: number): { count: number; lastAt: number } {
    let count = 0
    let lastAt = since
    for (const c of this.completions) {
      if (c.at <= since) continue
      count++
      lastAt = Math.max(lastAt, c.at)
    }
    return { count, lastAt }
  }
  /** Bytes delivered back to back (pipelined) and the ms they took: the provider's pace. */
  private busyBytes = 0
  private busyMs = 0
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
    this.window = this.clampWindow(DEFAULT_INITIAL_WINDOW)
    if (hint.rttSource === 'measured') this.minNetworkRttMs = hint.rttMs
  }

  private clampWindow(requests: number): number {
    return Math.min(this.maxWindow, Math.max(this.minWindow, requests))
  }

  get active(): boolean {
    return this.dropped === null
  }

  /**
   * Best known round trip: the lower of a measured hint (ping) and the lowest time to first
   * byte seen; an estimated hint (network coordinate) only until a chunk has arrived. An
   * estimate must not compete with a measurement: a coordinate that has not warmed up can say
   * ~0 ms, which would stick and size windows (and rank providers) as if all were next door.
   */
  get rttMs(): number | undefined {
    const measuredHint = this.hint.rttSource === 'measured' ? this.hint.rttMs : undefined
    if (this.minTtfbMs === undefined) return this.hint.rttMs
    return measuredHint === undefined ? this.minTtfbMs : Math.min(measuredHint, this.minTtfbMs)
  }

  /**
   * Bytes/s over the recent completions while the provider was busy, or the
   * best prior guess. Each completion counts from the later of the previous
   * completion and its own request: time the provider sat idle because we
   * sent it nothing (a locality share, a partial cache) is not held against
   * its rate, which would otherwise shrink its share further and further.
   */
  rateBytesPerSec(): number | undefined {
    if (this.completions.length >= 3) {
      let bytes = 0
      let busyMs = 0
      for (let i = 1; i < this.completions.length; i++) {
        const done = this.completions[i]!
        bytes += done.bytes
        busyMs += done.at - Math.max(this.completions[i - 1]!.at, done.startedAt)
      }
      if (busyMs > 0) return (bytes * 1000) / busyMs
    }
    return this.hint.measuredBytesPerSec ?? this.hint.offeredBytesPerSec
  }

  /**
   * Bytes/s while busy over the whole fetch so far: steadier than the recent rate, for
   * splitting bytes between providers (the recent rate swings with bursts of completions).
   */
  capacityBytesPerSec(): number | undefined {
    return this.busyBytes >= 2 * (this.completions[0]?.bytes ?? 1) && this.busyMs > 0
      ? (this.busyBytes * 1000) / this.busyMs
      : this.rateBytesPerSec()
  }

  /** When it last delivered a chunk (the scheduler's clock), or -Infinity before its first. */
  get lastDeliveryAt(): number {
    return this.completions.at(-1)?.at ?? Number.NEGATIVE_INFINITY
  }

  /**
   * Expected ms until a new request sent now would complete: one round trip
   * plus draining everything queued ahead of it at the measured rate.
   */
  estimateMs(chunkBytes: number): number {
    const rtt = this.rttMs ?? 50
    const rate = this.rateBytesPerSec()
    const perChunkMs = rate === undefined || rate <= 0 ? 20 : (chunkBytes * 1000) / rate
    // Failures in earlier fetches count like this fetch's own: a provider that failed before is
    // ranked below an equal one that did not.
    return (
      rtt + (this.inFlight + 1) * perChunkMs + (this.failures + (this.hint.pastFailures ?? 0)) * perChunkMs
    )
  }

  /**
   * Network round trip by ping: no provider queue or chunk work in it, so providers can be
   * compared by distance (the locality bias); undefined until one is measured.
   */
  get networkRttMs(): number | undefined {
    return this.minNetworkRttMs
  }

  onNetworkRtt(ms: number): void {
    if (ms >= 0 && Number.isFinite(ms) && (this.minNetworkRttMs === undefined || ms < this.minNetworkRttMs))
      this.minNetworkRttMs = ms
  }

  onTtfb(ms: number): void {
    if (ms > 0 && (this.minTtfbMs === undefined || ms < this.minTtfbMs)) this.minTtfbMs = ms
  }

  onComplete(bytes: number, now: number, chunkBytes: number, startedAt = Number.NEGATIVE_INFINITY): void {
    this.bytes += bytes
    this.chunks += 1
    const previous = this.completions[this.completions.length - 1]
    // Only a request that reached the provider before it finished the previous one (sent at
    // least a round trip earlier) measures its own pace; one that found it idle also measures
    // the round trip and the gap (app-limited), so it is left out.
    if (previous !== undefined && startedAt + (this.rttMs ?? 0) <= previous.at) {
      this.busyBytes += bytes
      this.busyMs += now - previous.at
    }
    this.completions.push({ at: now, bytes, startedAt })
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

  /** Where rttMs comes from: 'ttfb' when the chunks themselves gave the lowest round trip. */
  private rttSource(): string {
    const hinted = this.hint.rttSource ?? 'unknown'
    if (this.minTtfbMs === undefined) return hinted
    return hinted === 'measured' && (this.hint.rttMs ?? Number.POSITIVE_INFINITY) <= this.minTtfbMs
      ? 'measured'
      : 'ttfb'
  }

  report(locality?: { premium: number; share: number }): ProviderReport {
    const rate = this.rateBytesPerSec()
    return {
      peerId: this.peer.toString(),
      bytes: this.bytes,
      // filled in by the fetcher once every session is closed
      duplicateBytes: 0,
      chunks: this.chunks,
      had: this.has.size,
      rttMs: this.rttMs === undefined ? null : Number(this.rttMs.toFixed(3)),
      rttSource: this.rttSource(),
      rateMBps: rate === undefined ? null : Number((rate / 1e6).toFixed(3)),
      window: this.window,
      failures: this.failures,
      badChunks: this.badChunks,
      dropped: this.dropped,
      initialEstimateMs: this.initialEstimateMs === null ? null : Number(this.initialEstimateMs.toFixed(3)),
      localityPremium: locality === undefined ? null : Number(locality.premium.toFixed(3)),
      localityShare: locality === undefined ? null : Number(locality.share.toFixed(3)),
    }
  }
}

/**
 * Providers that failed this node before (no answer, a bad manifest, a dropped session), kept
 * across fetches so the next fetch asks them last. A failure's weight halves every
 * FAILURE_HALF_LIFE_MS and a success clears it, so a provider that recovers is not shunned for
 * long. Bounded: the peer recorded least recently is forgotten first.
 */
export class ProviderFailures {
  private readonly entries = new Map<string, { score: number; at: number }>()
  private readonly now: () => number
  private readonly halfLifeMs: number
  private readonly maxPeers: number

  constructor(init: { now?: () => number; halfLifeMs?: number; maxPeers?: number } = {}) {
    this.now = init.now ?? Date.now
    this.halfLifeMs = init.halfLifeMs ?? FAILURE_HALF_LIFE_MS
    this.maxPeers = init.maxPeers ?? MAX_REMEMBERED_FAILURES
  }

  /** Decayed failure count of `peer` (0: never failed, or forgiven). */
  score(peer: PeerId | string): number {
    const entry = this.entries.get(peer.toString())
    if (entry === undefined) return 0
    return entry.score * 0.5 ** ((this.now() - entry.at) / this.halfLifeMs)
  }

  failed(peer: PeerId | string): void {
    const key = peer.toString()
    const score = this.score(key) + 1
    this.entries.delete(key)
    this.entries.set(key, { score, at: this.now() })
    while (this.entries.size > this.maxPeers) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }

  succeeded(peer: PeerId | string): void {
    this.entries.delete(peer.toString())
  }

  get size(): number {
    return this.entries.size
  }
}
