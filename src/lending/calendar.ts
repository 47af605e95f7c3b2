/**
 * Lending caps count per local calendar day and month: a home user's "50 GB a day" means the
 * day on their wall clock, so periods are read in this process's local time zone.
 */

const pad = (n: number): string => String(n).padStart(2, '0')

/** "2026-12-01": the local day `ms` falls in. */
export function dayKey(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** "2026-12": the local month `ms` falls in. */
export function monthKey(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`
}

/** The next local midnight after `ms` (ms since the epoch). */
export function nextDayStart(ms: number): number {
  const d = new Date(ms)
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime()
}

/** Local midnight of the first day of the month after the one `ms` falls in. */
export function nextMonthStart(ms: number): number {
  const d = new Date(ms)
  return new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime()
}
