/**
 * Sizes, rates and tables for people (CLI, lab, reports, logs). Sizes and rates print in one base,
 * SI: kB = 1000 B, MB = 10^6 B, the base of the API's MB/s, the links' Mbit/s and the experiment's
 * figures. The dashboard (src/api/dashboard/app.js, a browser script) keeps a copy of formatBytes
 * and formatRate; tests/unit/format.test.ts checks that the two agree.
 */

const SI_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

/** 512 B, 1.05 MB, 16.8 MB, 262 kB: three significant digits above a kilobyte; '–' for no number. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–'
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1000 && unit < SI_UNITS.length - 1) {
    value /= 1000
    unit++
  }
  let shown = unit === 0 ? Math.round(value) : Number(value.toPrecision(3))
  if (Math.abs(shown) >= 1000 && unit < SI_UNITS.length - 1) {
    shown = Number((value / 1000).toPrecision(3))
    unit++
  }
  return `${shown} ${SI_UNITS[unit]}`
}

export function formatRate(bytesPerSec: number): string {
  return Number.isFinite(bytesPerSec) ? `${formatBytes(bytesPerSec)}/s` : '–'
}

/**
 * 45 s, 2 min 05 s, 1 h 02 min, 3 d 04 h: a time left or taken (an ETA, an uptime), rounded up to
 * the second; '–' for no number.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–'
  const whole = Math.ceil(seconds)
  const pad = (n: number): string => String(n).padStart(2, '0')
  if (whole < 60) return `${whole} s`
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`
  if (whole < 86_400) return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`
  return `${Math.floor(whole / 86_400)} d ${pad(Math.floor((whole % 86_400) / 3600))} h`
}

/** Bytes per unit: SI (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB), each with its true meaning. */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
}

/**
 * Parses sizes like 1048576, 256KiB, 1MiB, 1MB (= 1,000,000), 1.5 GB. A bare prefix (4M, 256k) is
 * refused: it has meant either base, so the caller says which.
 */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const factor = match === null ? undefined : SIZE_UNITS[(match[2] || 'b').toLowerCase()]
  if (match === null || factor === undefined) {
    throw new Error(
      `not a size: ${text} (try 65536, 256KiB, 1MiB or 1MB; KiB/MiB/GiB are 2^10/2^20/2^30, kB/MB/GB 10^3/10^6/10^9)`,
    )
  }
  return Math.round(Number(match[1]) * factor)
}

/** "1 peer", "2 peers", "0 peers". */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`
}

/** Rows of cells as aligned columns (two spaces apart), no trailing blanks. */
export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
