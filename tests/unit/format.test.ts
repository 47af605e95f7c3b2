import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatBytes, formatRate, parseSize } from '../../src/util/format.ts'

/** The dashboard's own formatBytes and formatRate (a browser script cannot import the TypeScript). */
function dashboardFormatters(): { formatBytes: (n: unknown) => string; formatRate: (n: unknown) => string } {
  const app = readFileSync(join(import.meta.dirname, '../../src/api/dashboard/app.js'), 'utf8')
  const start = app.indexOf('const SI_UNITS')
  const end = app.indexOf('function formatMs(')
  expect(start).toBeGreaterThan(0)
  expect(end).toBeGreaterThan(start)
  return new Function(`${app.slice(start, end)}\nreturn { formatBytes, formatRate }`)()
}

const SAMPLES = [
  0,
  1,
  512,
  999,
  999.6,
  1000,
  1024,
  65_536,
  262_144,
  999_949,
  999_950,
  1e6,
  2 ** 20,
  4 * 2 ** 20,
  16 * 2 ** 20,
  123_456_789,
  2 ** 30,
  5e12,
  3e18,
  -2048,
]

describe('sizes for people: one base (SI)', () => {
  it('formats in kB, MB, GB (powers of 1000), three significant digits', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1000)).toBe('1 kB')
    expect(formatBytes(65_536)).toBe('65.5 kB')
    expect(formatBytes(262_144)).toBe('262 kB')
    expect(formatBytes(2 ** 20)).toBe('1.05 MB')
    expect(formatBytes(16 * 2 ** 20)).toBe('16.8 MB')
    expect(formatBytes(999_950)).toBe('1 MB')
    expect(formatBytes(999.6)).toBe('1 kB')
    expect(formatBytes(2 ** 30)).toBe('1.07 GB')
    expect(formatBytes(Number.NaN)).toBe('–')
    expect(formatRate(2.5e6)).toBe('2.5 MB/s')
    expect(formatRate(Number.NaN)).toBe('–')
  })

  it('the dashboard prints what the CLI prints', () => {
    const dashboard = dashboardFormatters()
    for (const n of SAMPLES) {
      expect(dashboard.formatBytes(n)).toBe(formatBytes(n))
      expect(dashboard.formatRate(n)).toBe(formatRate(n))
    }
    expect(dashboard.formatRate(null)).toBe('–')
  })

  it('parses SI and binary units with their true meaning', () => {
    expect(parseSize('65536')).toBe(65_536)
    expect(parseSize('512B')).toBe(512)
    expect(parseSize('256KiB')).toBe(262_144)
    expect(parseSize('1MiB')).toBe(1_048_576)
    expect(parseSize('1 mib')).toBe(1_048_576)
    expect(parseSize('1GiB')).toBe(2 ** 30)
    expect(parseSize('64kB')).toBe(64_000)
    expect(parseSize('1MB')).toBe(1_000_000)
    expect(parseSize('1.5 GB')).toBe(1_500_000_000)
    expect(parseSize('1GB')).toBe(1e9)
  })

  it('refuses what is not a size, and a bare prefix that could mean either base', () => {
    for (const text of ['', 'MB', '1 XB', '-1MB', '4M', '256k', '1e6']) {
      expect(() => parseSize(text)).toThrow(/not a size/)
    }
  })
})
