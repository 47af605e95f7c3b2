import { rm } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { LendingAllowance, type LendingLimits } from '../../src/lending/allowance.ts'
import { dayKey, monthKey, nextDayStart, nextMonthStart } from '../../src/lending/calendar.ts'
import { parseWindow, ServingSchedule } from '../../src/lending/schedule.ts'
import { tempDir } from '../helpers/daemon.ts'

/** A local wall-clock time, ms since the epoch (tests hold in any time zone). */
const at = (y: number, m: number, d: number, h = 0, min = 0): number =>
  new Date(y, m - 1, d, h, min).getTime()

describe('serving windows', () => {
  it('parses HH:MM-HH:MM in 24-hour time, 24:00 as midnight at the end', () => {
    expect(parseWindow('01:00-07:00')).toMatchObject({ startMinute: 60, endMinute: 420 })
    expect(parseWindow('22:00-06:30')).toMatchObject({ startMinute: 1320, endMinute: 390 })
    expect(parseWindow('18:00-24:00')).toMatchObject({ startMinute: 1080, endMinute: 1440 })
    expect(parseWindow('18:00-00:00')).toMatchObject({ startMinute: 1080, endMinute: 1440 })
    expect(parseWindow('00:00-24:00')).toMatchObject({ startMinute: 0, endMinute: 1440 })
  })

  it('refuses what is not a window, and empty ones', () => {
    for (const bad of ['1:00-7:00', '01:00', '01:00-25:00', '24:30-01:00', '01:60-02:00', 'night', '']) {
      expect(() => parseWindow(bad), bad).toThrow(/is not a window like "01:00-07:00"|after 24:00/)
    }
    expect(() => parseWindow('05:00-05:00')).toThrow(/empty or ambiguous/)
    expect(() => parseWindow('24:00-24:00')).toThrow(/after 24:00|cannot start at 24:00/)
  })

  it('a window includes its start and excludes its end', () => {
    const schedule = new ServingSchedule(['01:00-07:00'])
    expect(schedule.isOpenAt(at(2026, 3, 10, 0, 59))).toBe(false)
    expect(schedule.isOpenAt(at(2026, 3, 10, 1, 0))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 10, 6, 59))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 10, 7, 0))).toBe(false)
    expect(schedule.nextChange(at(2026, 3, 10, 0, 30))).toBe(at(2026, 3, 10, 1, 0))
    expect(schedule.nextChange(at(2026, 3, 10, 3, 0))).toBe(at(2026, 3, 10, 7, 0))
    // After today's window: tomorrow's start.
    expect(schedule.nextChange(at(2026, 3, 10, 8, 0))).toBe(at(2026, 3, 11, 1, 0))
  })

  it('a window crossing midnight is open on both sides of it', () => {
    const schedule = new ServingSchedule(['22:00-06:00'])
    expect(schedule.isOpenAt(at(2026, 3, 10, 21, 59))).toBe(false)
    expect(schedule.isOpenAt(at(2026, 3, 10, 22, 0))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 10, 23, 59))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 11, 0, 0))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 11, 5, 59))).toBe(true)
    expect(schedule.isOpenAt(at(2026, 3, 11, 6, 0))).toBe(false)
    expect(schedule.nextChange(at(2026, 3, 10, 23, 0))).toBe(at(2026, 3, 11, 6, 0))
    expect(schedule.nextChange(at(2026, 3, 10, 12, 0))).toBe(at(2026, 3, 10, 22, 0))
    // Over a month's end too.
    expect(schedule.nextChange(at(2026, 3, 31, 23, 0))).toBe(at(2026, 4, 1, 6, 0))
  })

  it('several windows: adjacent ones make one span, gaps close it, the whole day never changes', () => {
    const joined = new ServingSchedule(['22:00-24:00', '00:00-03:00', '12:00-13:00'])
    expect(joined.nextChange(at(2026, 3, 10, 23, 0))).toBe(at(2026, 3, 11, 3, 0))
    expect(joined.nextChange(at(2026, 3, 11, 3, 0))).toBe(at(2026, 3, 11, 12, 0))
    expect(joined.nextOpen(at(2026, 3, 11, 13, 30))).toBe(at(2026, 3, 11, 22, 0))
    expect(joined.nextOpen(at(2026, 3, 11, 12, 30))).toBe(at(2026, 3, 11, 12, 30))
    const always = new ServingSchedule(['00:00-24:00'])
    expect(always.isOpenAt(at(2026, 3, 11, 13, 30))).toBe(true)
    expect(always.nextChange(at(2026, 3, 11, 13, 30))).toBeUndefined()
    expect(new ServingSchedule([]).always).toBe(true)
  })
})

describe('a daylight-saving day', () => {
  const saved = process.env.TZ
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })

  it('windows keep their wall-clock times on the day clocks go forward (Berlin, 2026-03-29)', () => {
    process.env.TZ = 'Europe/Berlin'
    const schedule = new ServingSchedule(['01:00-04:00'])
    // 01:30 CET is 00:30 UTC; 04:00 CEST is 02:00 UTC: a window of two real hours that day.
    expect(schedule.isOpenAt(Date.parse('2026-03-29T00:30:00Z'))).toBe(true)
    expect(schedule.nextChange(Date.parse('2026-03-29T00:30:00Z'))).toBe(Date.parse('2026-03-29T02:00:00Z'))
    expect(nextDayStart(Date.parse('2026-03-29T00:30:00Z'))).toBe(Date.parse('2026-03-29T22:00:00Z'))
  })
})

describe('local calendar periods', () => {
  it('days and months by the local calendar, including a leap day and a year end', () => {
    expect(dayKey(at(2028, 2, 29, 23, 59))).toBe('2028-02-29')
    expect(monthKey(at(2028, 2, 29, 23, 59))).toBe('2028-02')
    expect(nextDayStart(at(2028, 2, 29, 23, 59))).toBe(at(2028, 3, 1))
    expect(nextMonthStart(at(2026, 12, 15, 8))).toBe(at(2027, 1, 1))
    expect(nextDayStart(at(2026, 12, 31, 0, 0))).toBe(at(2027, 1, 1))
  })
})

describe('LendingAllowance on a real LevelDB', () => {
  let dir: string
  let db: Database
  let now: number
  const clock = (): number => now
  const allowances: LendingAllowance[] = []

  async function allowance(limits: Partial<LendingLimits>): Promise<LendingAllowance> {
    const lending = new LendingAllowance({
      db,
      clock,
      limits: { dailyCapBytes: 0, monthlyCapBytes: 0, schedule: [], ...limits },
    })
    await lending.open()
    allowances.push(lending)
    return lending
  }

  /** Closes the allowance and the database, opens both again: a node restart. */
  async function restart(limits: Partial<LendingLimits>): Promise<LendingAllowance> {
    for (const lending of allowances.splice(0)) await lending.close()
    await db.close()
    db = await openDatabase(dir)
    return allowance(limits)
  }

  beforeEach(async () => {
    dir = await tempDir('bwnode-lending-')
    db = await openDatabase(dir)
    now = at(2026, 1, 31, 20, 0)
  })
  afterEach(async () => {
    vi.useRealTimers()
    for (const lending of allowances.splice(0)) await lending.close()
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('without limits it is always open and reports no caps', async () => {
    const lending = await allowance({})
    expect(lending.limited).toBe(false)
    lending.check(10 ** 12)
    lending.record(10 ** 9)
    expect(lending.state()).toMatchObject({ open: true, until: null, remainingBytes: null, schedule: [] })
  })

  it('a daily cap closes lending until local midnight; the next day starts at 0, the month keeps counting', async () => {
    const lending = await allowance({ dailyCapBytes: 1000 })
    lending.check(600)
    lending.record(600)
    expect(lending.state()).toMatchObject({ open: true, usedTodayBytes: 600, remainingBytes: 400 })
    lending.check(400)
    lending.record(400)
    const state = lending.state()
    expect(state).toMatchObject({
      open: false,
      reason: 'daily-cap',
      until: at(2026, 2, 1),
      remainingBytes: 0,
    })
    expect(() => lending.check(0)).toThrow(
      expect.objectContaining({
        code: 'ERR_LENDING_CLOSED',
        message: expect.stringMatching(
          /^not lending now: the daily cap of 1 kB \(1000 bytes\) is used up \(1 kB \(1000 bytes\) served today\); open again at /,
        ),
      }),
    )
    now = at(2026, 2, 1, 0, 0)
    expect(lending.state()).toMatchObject({
      open: true,
      usedTodayBytes: 0,
      usedThisMonthBytes: 0,
      day: '2026-02-01',
      month: '2026-02',
    })
    now = at(2026, 2, 2, 9, 0)
    lending.record(300)
    now = at(2026, 2, 3, 9, 0)
    expect(lending.state()).toMatchObject({ usedTodayBytes: 0, usedThisMonthBytes: 300 })
  })

  it('a request that would pass a cap is refused and closes lending until the reset, never passing it', async () => {
    const lending = await allowance({ dailyCapBytes: 100 * 1024 })
    lending.record(60 * 1024)
    expect(() => lending.check(64 * 1024)).toThrow(/65\.5 kB \(65536 bytes\) more would pass the daily cap/)
    // What is left would hold a smaller request, but lending stays closed until midnight.
    expect(() => lending.check(1024)).toThrow(/daily cap of 102 kB \(102400 bytes\) is used up/)
    expect(lending.state()).toMatchObject({ open: false, reason: 'daily-cap', usedTodayBytes: 60 * 1024 })
  })

  it('a monthly cap holds until the first of the next month, across day rollovers', async () => {
    const lending = await allowance({ dailyCapBytes: 800, monthlyCapBytes: 1000 })
    now = at(2026, 1, 30, 12)
    lending.record(700)
    now = at(2026, 1, 31, 12)
    lending.record(300)
    expect(lending.state()).toMatchObject({
      open: false,
      reason: 'monthly-cap',
      until: at(2026, 2, 1),
      usedTodayBytes: 300,
      usedThisMonthBytes: 1000,
    })
    now = at(2026, 1, 31, 23, 59)
    expect(() => lending.check(1)).toThrow(
      /monthly cap of 1 kB \(1000 bytes\) is used up \(1 kB \(1000 bytes\) served this month\)/,
    )
    now = at(2026, 2, 1, 0, 1)
    expect(lending.state()).toMatchObject({ open: true, usedThisMonthBytes: 0, remainingBytes: 800 })
  })

  it('a schedule: closed outside its windows until the next one opens, open until the window ends', async () => {
    const lending = await allowance({ schedule: ['01:00-07:00', '22:30-23:30'] })
    now = at(2026, 1, 31, 20, 0)
    expect(lending.state()).toMatchObject({ open: false, reason: 'schedule', until: at(2026, 1, 31, 22, 30) })
    expect(() => lending.check(0)).toThrow(
      /^not lending now: outside the serving schedule \(01:00-07:00, 22:30-23:30, local time\); open again at /,
    )
    now = at(2026, 1, 31, 23, 0)
    expect(lending.state()).toMatchObject({ open: true, reason: null, until: at(2026, 1, 31, 23, 30) })
    lending.check(5)
  })

  it('a cap used up before the night window reopens at the window after midnight', async () => {
    const lending = await allowance({ dailyCapBytes: 10, schedule: ['22:00-02:00'] })
    now = at(2026, 3, 10, 22, 30)
    lending.record(10)
    // Midnight resets the cap and the window is still open then.
    expect(lending.state()).toMatchObject({ open: false, reason: 'daily-cap', until: at(2026, 3, 11) })
  })

  it('a monthly cap used up reopens at the first window of the next month', async () => {
    now = at(2026, 3, 31, 4, 0)
    const monthly = await allowance({ monthlyCapBytes: 10, schedule: ['03:00-05:00'] })
    monthly.record(10)
    expect(monthly.state()).toMatchObject({ reason: 'monthly-cap', until: at(2026, 4, 1, 3, 0) })
  })

  it('counters and a closed cap survive a restart; a restart on a later day starts the day at 0', async () => {
    const first = await allowance({ dailyCapBytes: 1000, monthlyCapBytes: 5000 })
    first.record(400)
    first.record(200)
    expect(() => first.check(500)).toThrow(/would pass the daily cap/)
    const again = await restart({ dailyCapBytes: 1000, monthlyCapBytes: 5000 })
    expect(again.state()).toMatchObject({
      open: false,
      reason: 'daily-cap',
      usedTodayBytes: 600,
      usedThisMonthBytes: 600,
    })
    now = at(2026, 2, 1, 8, 0)
    const nextMonth = await restart({ dailyCapBytes: 1000, monthlyCapBytes: 5000 })
    expect(nextMonth.state()).toMatchObject({ open: true, usedTodayBytes: 0, usedThisMonthBytes: 0 })
    now = at(2026, 2, 1, 9, 0)
    nextMonth.record(250)
    now = at(2026, 2, 2, 9, 0)
    const nextDay = await restart({ dailyCapBytes: 1000, monthlyCapBytes: 5000 })
    expect(nextDay.state()).toMatchObject({ open: true, usedTodayBytes: 0, usedThisMonthBytes: 250 })
  })

  it('many records in a burst are all counted by the coalesced writes', async () => {
    const lending = await allowance({ monthlyCapBytes: 10 ** 9 })
    for (let i = 0; i < 1000; i++) lending.record(1000)
    const again = await restart({ monthlyCapBytes: 10 ** 9 })
    expect(again.state().usedThisMonthBytes).toBe(10 ** 6)
  })

  it('watch: tells when the schedule opens and closes, and when a cap closes lending', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    vi.setSystemTime(at(2026, 3, 10, 0, 30))
    now = Date.now()
    const lending = new LendingAllowance({
      db,
      clock: () => Date.now(),
      limits: { dailyCapBytes: 100, monthlyCapBytes: 0, schedule: ['01:00-07:00'] },
    })
    await lending.open()
    allowances.push(lending)
    const seen: Array<{ open: boolean; reason: string | null; until: number | null }> = []
    lending.watch(({ open, reason, until }) => seen.push({ open, reason, until }))
    await vi.advanceTimersByTimeAsync(31 * 60 * 1000)
    expect(seen).toEqual([{ open: true, reason: null, until: at(2026, 3, 10, 7, 0) }])
    lending.record(100)
    expect(seen.at(-1)).toEqual({ open: false, reason: 'daily-cap', until: at(2026, 3, 11, 1, 0) })
    // Midnight resets the cap; the schedule keeps it closed until 01:00.
    await vi.advanceTimersByTimeAsync(24 * 60 * 60 * 1000)
    expect(seen.slice(2)).toEqual([
      { open: false, reason: 'schedule', until: at(2026, 3, 11, 1, 0) },
      { open: true, reason: null, until: at(2026, 3, 11, 7, 0) },
    ])
  })
})
