import { logger } from '@libp2p/logger'
import type { Database } from '../db/database.ts'
import { BwnodeError, errorMessage } from '../errors/index.ts'
import { ChunkErrorCode } from '../protocols/chunk/codes.ts'
import { formatBytes } from '../util/format.ts'
import { dayKey, monthKey, nextDayStart, nextMonthStart } from './calendar.ts'
import { ServingSchedule } from './schedule.ts'

const log = logger('bwnode:lending')

/** The watch timer re-reads the state at least this often (ms), so a jump of the clock is noticed. */
const MAX_WATCH_INTERVAL_MS = 60 * 60 * 1000

export interface LendingLimits {
  /** Bytes served to peers per local calendar day; 0 = no cap. */
  dailyCapBytes: number
  /** Bytes served to peers per local calendar month; 0 = no cap. */
  monthlyCapBytes: number
  /** Daily serving windows, "HH:MM-HH:MM" local time; empty = always. */
  schedule: readonly string[]
}

export type LendingClosedReason = 'schedule' | 'daily-cap' | 'monthly-cap'

export interface LendingState {
  /** Serving peers now. */
  open: boolean
  /** Why not, while closed: the cap that is used up (the month's first), else the schedule. */
  reason: LendingClosedReason | null
  /**
   * While open: when the schedule closes lending next (null: no scheduled close; a cap can
   * still close it sooner). While closed: when it opens again (ms since the epoch).
   */
  until: number | null
  schedule: string[]
  dailyCapBytes: number
  monthlyCapBytes: number
  usedTodayBytes: number
  usedThisMonthBytes: number
  /** Bytes that may still be served before a cap closes lending; null without caps. */
  remainingBytes: number | null
  /** The local day and month the counters are for ("2026-12-01", "2026-12"). */
  day: string
  month: string
}

/** One period's counter as stored: `full` once a request did not fit in what was left. */
interface Counter {
  period: string
  bytes: number
  full: boolean
}

export interface LendingAllowanceInit {
  db: Database
  limits: LendingLimits
  /** Wall clock, ms since the epoch; injectable so tests need not wait for midnight. */
  clock?: () => number
}

/** The node is not lending now; the message says why and when it opens again. */
export class LendingClosed extends BwnodeError {
  readonly reason: LendingClosedReason
  readonly until: number | null

  constructor(reason: LendingClosedReason, until: number | null, why: string) {
    const again = until === null ? '' : `; open again at ${new Date(until).toISOString()}`
    super(ChunkErrorCode.LENDING_CLOSED, `not lending now: ${why}${again}`)
    this.name = 'LendingClosed'
    this.reason = reason
    this.until = until
  }
}

/**
 * What a node may still lend: bytes served per local day and month against their caps, and
 * the serving schedule. The chunk server asks `check(bytes)` before it commits to a chunk and
 * `record(bytes)` once it has; counters are kept in the node's LevelDB (`lending` sublevel) and
 * start again from 0 when the local day or month changes. A cap is never passed: a request that
 * does not fit in what is left is refused, and lending stays closed until the cap resets
 * (otherwise the last few KiB of the day would keep the offer open while every chunk is refused).
 */
export class LendingAllowance {
  readonly limits: LendingLimits
  readonly schedule: ServingSchedule
  private readonly store
  private readonly clock: () => number
  private day: Counter
  private month: Counter
  private writing: Promise<void> | undefined
  private dirty = false
  private closed = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private listener: ((state: LendingState) => void) | undefined
  private lastSignature = ''

  constructor(init: LendingAllowanceInit) {
    this.limits = init.limits
    this.schedule = new ServingSchedule(init.limits.schedule)
    this.store = init.db.sublevel<string, Counter>('lending', { valueEncoding: 'json' })
    this.clock = init.clock ?? Date.now
    const now = this.clock()
    this.day = { period: dayKey(now), bytes: 0, full: false }
    this.month = { period: monthKey(now), bytes: 0, full: false }
  }

  /** Whether any limit is configured (without one, the node always lends and says nothing of it). */
  get limited(): boolean {
    return this.limits.dailyCapBytes > 0 || this.limits.monthlyCapBytes > 0 || !this.schedule.always
  }

  /** Loads the stored counters (those of a past day or month count as 0). */
  async open(): Promise<void> {
    const [day, month] = await this.store.getMany(['day', 'month'])
    if (isCounter(day)) this.day = day
    if (isCounter(month)) this.month = month
    this.roll(this.clock())
    this.lastSignature = signature(this.state())
  }

  /** Stops the watch timer and writes the counters. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.writing
    if (this.dirty) await this.write()
  }

  /**
   * Calls `listener` whenever lending opens or closes, its `until` moves, or a new day starts
   * (what an offer advertises changes then), from a timer and from `record`.
   */
  watch(listener: (state: LendingState) => void): void {
    this.listener = listener
    this.arm()
  }

  state(): LendingState {
    const now = this.clock()
    this.roll(now)
    const { dailyCapBytes, monthlyCapBytes } = this.limits
    const reason = this.closedBy(now)
    const left = [
      dailyCapBytes > 0 ? (this.day.full ? 0 : Math.max(0, dailyCapBytes - this.day.bytes)) : undefined,
      monthlyCapBytes > 0
        ? this.month.full
          ? 0
          : Math.max(0, monthlyCapBytes - this.month.bytes)
        : undefined,
    ].filter((n): n is number => n !== undefined)
    return {
      open: reason === null,
      reason,
      until: reason === null ? (this.schedule.nextChange(now) ?? null) : this.reopensAt(now),
      schedule: this.schedule.describe(),
      dailyCapBytes,
      monthlyCapBytes,
      usedTodayBytes: this.day.bytes,
      usedThisMonthBytes: this.month.bytes,
      remainingBytes: left.length === 0 ? null : Math.min(...left),
      day: this.day.period,
      month: this.month.period,
    }
  }

  /**
   * Throws LendingClosed (ERR_LENDING_CLOSED) unless `bytes` may be served now: inside the
   * schedule and within both caps. 0 bytes asks only whether lending is open (HAVE).
   */
  check(bytes: number): void {
    if (!this.limited) return
    const now = this.clock()
    this.roll(now)
    const reason = this.closedBy(now)
    if (reason !== null) throw this.closedError(reason, now)
    const over = this.wouldPass(this.month, this.limits.monthlyCapBytes, bytes)
      ? ('monthly-cap' as const)
      : this.wouldPass(this.day, this.limits.dailyCapBytes, bytes)
        ? ('daily-cap' as const)
        : undefined
    if (over === undefined) return // Closed until the reset from here on, and remembered across a restart.
    ;(over === 'monthly-cap' ? this.month : this.day).full = true
    this.persist()
    this.notify()
    throw this.closedError(over, now, bytes)
  }

  /** Counts `bytes` served (after `check` let them through). */
  record(bytes: number): void {
    if (bytes <= 0) return
    this.roll(this.clock())
    this.day.bytes += bytes
    this.month.bytes += bytes
    this.persist()
    const { dailyCapBytes, monthlyCapBytes } = this.limits
    if (
      (dailyCapBytes > 0 && this.day.bytes >= dailyCapBytes) ||
      (monthlyCapBytes > 0 && this.month.bytes >= monthlyCapBytes)
    ) {
      this.notify()
    }
  }

  private wouldPass(counter: Counter, cap: number, bytes: number): boolean {
    return cap > 0 && counter.bytes + bytes > cap
  }

  private capUsedUp(counter: Counter, cap: number): boolean {
    return cap > 0 && (counter.full || counter.bytes >= cap)
  }

  private closedBy(now: number): LendingClosedReason | null {
    if (this.capUsedUp(this.month, this.limits.monthlyCapBytes)) return 'monthly-cap'
    if (this.capUsedUp(this.day, this.limits.dailyCapBytes)) return 'daily-cap'
    if (!this.schedule.isOpenAt(now)) return 'schedule'
    return null
  }

  /** The first moment every used-up cap has reset and the schedule is open. */
  private reopensAt(now: number): number | null {
    let at = now
    if (this.capUsedUp(this.month, this.limits.monthlyCapBytes)) at = Math.max(at, nextMonthStart(now))
    if (this.capUsedUp(this.day, this.limits.dailyCapBytes)) at = Math.max(at, nextDayStart(now))
    return this.schedule.nextOpen(at) ?? null
  }

  private closedError(reason: LendingClosedReason, now: number, bytes?: number): LendingClosed {
    const until = this.reopensAt(now)
    if (reason === 'schedule') {
      return new LendingClosed(
        reason,
        until,
        `outside the serving schedule (${this.schedule.describe().join(', ')}, local time)`,
      )
    }
    const [period, counter, cap] =
      reason === 'daily-cap'
        ? (['daily', this.day, this.limits.dailyCapBytes] as const)
        : (['monthly', this.month, this.limits.monthlyCapBytes] as const)
    const served = `${sizeText(counter.bytes)} served ${period === 'daily' ? 'today' : 'this month'}`
    const why =
      bytes === undefined
        ? `the ${period} cap of ${sizeText(cap)} is used up (${served})`
        : `${sizeText(bytes)} more would pass the ${period} cap of ${sizeText(cap)} (${served})`
    return new LendingClosed(reason, until, why)
  }

  /** A new local day or month starts its counter at 0. */
  private roll(now: number): void {
    const day = dayKey(now)
    const month = monthKey(now)
    if (this.day.period === day && this.month.period === month) return
    if (this.day.period !== day) this.day = { period: day, bytes: 0, full: false }
    if (this.month.period !== month) this.month = { period: month, bytes: 0, full: false }
    this.persist()
  }

  /** One write at a time, always of the latest counters: a busy server does not queue writes. */
  private persist(): void {
    if (this.closed) {
      this.dirty = true
      return
    }
    if (this.writing !== undefined) {
      this.dirty = true
      return
    }
    this.writing = this.write().finally(() => {
      this.writing = undefined
      if (this.dirty) this.persist()
    })
  }

  private async write(): Promise<void> {
    this.dirty = false
    try {
      await this.store.batch([
        { type: 'put', key: 'day', value: { ...this.day } },
        { type: 'put', key: 'month', value: { ...this.month } },
      ])
    } catch (err) {
      // Counting goes on in memory; the next write carries the totals.
      this.dirty = true
      log.error('writing lending counters failed: %s', errorMessage(err))
    }
  }

  private notify(): void {
    const state = this.state()
    const next = signature(state)
    if (next === this.lastSignature) return
    this.lastSignature = next
    this.listener?.(state)
  }

  private arm(): void {
    clearTimeout(this.timer)
    if (this.closed || this.listener === undefined) return
    const now = this.clock()
    const change = Math.min(this.schedule.nextChange(now) ?? Number.POSITIVE_INFINITY, nextDayStart(now))
    this.timer = setTimeout(
      () => {
        this.notify()
        this.arm()
      },
      Math.max(1, Math.min(change - now, MAX_WATCH_INTERVAL_MS)),
    )
    this.timer.unref?.()
  }
}

/** What an offer carries of the state: a change of any of these is worth republishing. */
function signature(state: LendingState): string {
  return `${state.open}|${state.until}|${state.day}`
}

function isCounter(value: unknown): value is Counter {
  const c = value as Counter | undefined
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.period === 'string' &&
    Number.isSafeInteger(c.bytes) &&
    c.bytes >= 0 &&
    typeof c.full === 'boolean'
  )
}

/** "3.15 MB (3145728 bytes)": readable, and exact for whoever set the cap in bytes. */
function sizeText(bytes: number): string {
  return bytes < 1000 ? `${bytes} bytes` : `${formatBytes(bytes)} (${bytes} bytes)`
}
