/**
 * Turns a stream of per-chunk timings into a few recorder samples per second.
 *
 * Recording every chunk would cost two LevelDB writes per chunk on the fetch path (the profile
 * showed it), and a per-chunk "throughput" (bytes / that chunk's latency) is wrong under
 * pipelining anyway, since a chunk's latency includes waiting behind the ones before it. So a
 * session reports, at most once per interval: the lowest time to first byte seen (the closest to
 * an unloaded round trip) and the bytes delivered over the wall-clock time since the last report.
 */
export const DEFAULT_SAMPLE_INTERVAL_MS = 500

export interface TransferSample {
  ttfbMs: number
  bytes: number
  seconds: number
}

export class TransferSampler {
  private readonly intervalMs: number
  private readonly now: () => number
  private windowStart: number | undefined
  private bytes = 0
  private minTtfbMs = Number.POSITIVE_INFINITY

  constructor(init: { intervalMs?: number; now?: () => number } = {}) {
    this.intervalMs = init.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS
    this.now = init.now ?? performance.now.bind(performance)
  }

  /**
   * Adds one verified chunk; returns a sample when the interval is over. The first chunk only
   * opens the window (its bytes arrived before any time was measured).
   */
  add(bytes: number, ttfbMs: number): TransferSample | undefined {
    const now = this.now()
    this.minTtfbMs = Math.min(this.minTtfbMs, ttfbMs)
    if (this.windowStart === undefined) {
      this.windowStart = now
      return this.firstSample(ttfbMs)
    }
    this.bytes += bytes
    if (now - this.windowStart < this.intervalMs) return undefined
    return this.flush(now)
  }

  /** What is left at the end of a session, if it covers any time at all. */
  finish(): TransferSample | undefined {
    if (this.windowStart === undefined || this.bytes === 0) return undefined
    return this.flush(this.now())
  }

  private firstSample(ttfbMs: number): TransferSample {
    return { ttfbMs, bytes: 0, seconds: 0 }
  }

  private flush(now: number): TransferSample | undefined {
    const seconds = (now - (this.windowStart ?? now)) / 1000
    const sample = { ttfbMs: this.minTtfbMs, bytes: this.bytes, seconds }
    this.windowStart = now
    this.bytes = 0
    this.minTtfbMs = Number.POSITIVE_INFINITY
    return seconds > 0 ? sample : undefined
  }
}
