import { setTimeout as sleep } from 'node:timers/promises'
import { ERR } from '../../errors/codes.ts'
import { BwnodeError } from '../../errors/index.ts'

/**
 * Serving limits that keep a node within what it offered: a TokenBucket for
 * bytes per second and a Semaphore for peers served at once.
 */

export interface TokenBucketInit {
  /** Sustained rate (bytes per second). */
  rateBytesPerSec: number
  /** Bytes that may go out at once after an idle period. */
  burstBytes: number
  /** Monotonic clock in ms (default performance.now). */
  clock?: () => number
  /** How to wait; injectable so tests can run on virtual time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * Token bucket that lets a caller go into debt: `take(n)` reserves n bytes at
 * once and waits until the bucket has paid them back. Requests larger than the
 * burst work (they just wait longer), waiters are served in call order, and
 * the rate holds over long runs because each wait is computed from the shared
 * balance, not from when the previous waiter happened to wake up.
 */
export class TokenBucket {
  readonly rateBytesPerSec: number
  readonly burstBytes: number
  private readonly clock: () => number
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  private tokens: number
  private updatedAt: number

  constructor(init: TokenBucketInit) {
    if (!(init.rateBytesPerSec > 0 && Number.isFinite(init.rateBytesPerSec))) {
      throw new BwnodeError(
        ERR.CONFIG,
        `rateBytesPerSec must be a positive number, got ${init.rateBytesPerSec}`,
      )
    }
    if (!(init.burstBytes >= 0 && Number.isFinite(init.burstBytes))) {
      throw new BwnodeError(ERR.CONFIG, `burstBytes must be >= 0, got ${init.burstBytes}`)
    }
    this.rateBytesPerSec = init.rateBytesPerSec
    this.burstBytes = init.burstBytes
    this.clock = init.clock ?? (() => performance.now())
    this.sleep = init.sleep ?? ((ms, signal) => sleep(ms, undefined, { signal }))
    this.tokens = init.burstBytes
    this.updatedAt = this.clock()
  }

  /** Current balance in bytes; negative while callers wait on debt. */
  get available(): number {
    this.refill()
    return this.tokens
  }

  /**
   * Wait until `bytes` may be sent. If `signal` aborts while waiting, the
   * reservation is returned to the bucket and the abort reason is thrown.
   */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(bytes >= 0 && Number.isFinite(bytes))) {
      throw new BwnodeError(ERR.INVALID_ARGUMENT, `cannot take ${bytes} bytes`)
    }
    signal?.throwIfAborted()
    this.refill()
    this.tokens -= bytes
    if (this.tokens >= 0) return
    const waitMs = (-this.tokens / this.rateBytesPerSec) * 1000
    try {
      await this.sleep(waitMs, signal)
    } catch (err) {
      this.refill()
      this.tokens = Math.min(this.burstBytes, this.tokens + bytes)
      throw signal?.reason ?? err
    }
  }

  private refill(): void {
    const now = this.clock()
    const elapsedMs = Math.max(0, now - this.updatedAt)
    this.updatedAt = now
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsedMs / 1000) * this.rateBytesPerSec)
  }
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/** Counting semaphore with FIFO waiters and abortable acquire. */
export class Semaphore {
  readonly max: number
  private held = 0
  private readonly waiters: Waiter[] = []

  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 1)) {
      throw new BwnodeError(ERR.CONFIG, `a semaphore needs at least 1 permit, got ${max}`)
    }
    this.max = max
  }

  /** Permits currently held. */
  get inUse(): number {
    return this.held
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.waiters.length
  }

  /** Take a permit now if one is free. */
  tryAcquire(): boolean {
    if (this.held >= this.max) return false
    this.held++
    return true
  }

  /** Wait for a permit; an abort while waiting removes the caller from the queue and throws the reason. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.tryAcquire()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
    })
  }

  /** Give a permit back; it passes straight to the longest waiter. */
  release(): void {
    if (this.held === 0) throw new BwnodeError(ERR.SEMAPHORE, 'release() without a matching acquire()')
    const next = this.waiters.shift()
    if (next === undefined) {
      this.held--
      return
    }
    if (next.onAbort !== undefined) next.signal?.removeEventListener('abort', next.onAbort)
    next.resolve()
  }

  /** Run `fn` holding a permit. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await fn()
    } finally {
      this.release()
    }
  }
}
