/**
 * When a node serves peers: a list of daily windows in local wall-clock time, "HH:MM-HH:MM",
 * end excluded. A window whose end is before its start crosses midnight ("22:00-06:00"), and
 * "24:00" ends a window at midnight. No windows means always open.
 */

export interface ServingWindow {
  /** As written in the config, e.g. "01:00-07:00". */
  text: string
  /** Minutes after local midnight, 0..1439. */
  startMinute: number
  /** Minutes after local midnight, 1..1440; below startMinute when the window crosses midnight. */
  endMinute: number
}

const MINUTES_PER_DAY = 24 * 60
const WINDOW = /^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/

/** Parses "HH:MM-HH:MM"; throws an Error naming what is wrong (the config schema shows it). */
export function parseWindow(text: string): ServingWindow {
  const match = WINDOW.exec(text)
  if (match === null) throw new Error(`"${text}" is not a window like "01:00-07:00" (24-hour local time)`)
  const [, h1, m1, h2, m2] = match.map(Number) as [number, number, number, number, number]
  if ((h1 === 24 && m1 !== 0) || (h2 === 24 && m2 !== 0)) throw new Error(`"${text}": no time after 24:00`)
  const startMinute = h1 * 60 + m1
  const endMinute = h2 * 60 + m2
  if (startMinute === MINUTES_PER_DAY) throw new Error(`"${text}": a window cannot start at 24:00`)
  if (startMinute === endMinute) {
    throw new Error(`"${text}" is empty or ambiguous: write "00:00-24:00" for the whole day`)
  }
  return { text, startMinute, endMinute: endMinute === 0 ? MINUTES_PER_DAY : endMinute }
}

function contains(window: ServingWindow, minute: number): boolean {
  return window.startMinute < window.endMinute
    ? minute >= window.startMinute && minute < window.endMinute
    : minute >= window.startMinute || minute < window.endMinute
}

export class ServingSchedule {
  readonly windows: readonly ServingWindow[]

  constructor(windows: readonly string[]) {
    this.windows = windows.map(parseWindow)
  }

  /** No windows configured: serving is never closed by the clock. */
  get always(): boolean {
    return this.windows.length === 0
  }

  /** Whether `ms` (since the epoch) falls in a window, read in this process's local time. */
  isOpenAt(ms: number): boolean {
    if (this.always) return true
    const local = new Date(ms)
    const minute = local.getHours() * 60 + local.getMinutes()
    return this.windows.some((window) => contains(window, minute))
  }

  /**
   * The first moment after `ms` at which the schedule opens or closes (ms since the epoch), or
   * undefined if it never does (no windows, or windows that cover the whole day). Every window
   * fits in a day, so a change, if any, comes within two local days; boundaries are built from
   * local dates, so a day with a daylight-saving shift keeps its wall-clock times.
   */
  nextChange(ms: number): number | undefined {
    if (this.always) return undefined
    const openNow = this.isOpenAt(ms)
    const boundaries = new Set<number>()
    for (const window of this.windows) boundaries.add(window.startMinute).add(window.endMinute)
    const today = new Date(ms)
    const candidates: number[] = []
    for (let day = 0; day <= 2; day++) {
      for (const minute of boundaries) {
        const at = new Date(today.getFullYear(), today.getMonth(), today.getDate() + day, 0, minute).getTime()
        if (at > ms) candidates.push(at)
      }
    }
    candidates.sort((a, b) => a - b)
    return candidates.find((at) => this.isOpenAt(at) !== openNow)
  }

  /** The first moment at or after `ms` at which the schedule is open (ms since the epoch). */
  nextOpen(ms: number): number | undefined {
    return this.isOpenAt(ms) ? ms : this.nextChange(ms)
  }

  /** The windows as configured, for status output. */
  describe(): string[] {
    return this.windows.map((window) => window.text)
  }
}
