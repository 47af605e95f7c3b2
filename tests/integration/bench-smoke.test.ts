import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const resultsDir = await mkdtemp(join(tmpdir(), 'bwnode-bench-smoke-'))

afterAll(async () => {
  await rm(resultsDir, { recursive: true, force: true })
})

interface Report {
  machine: { cpus: number; platform: string }
  versions: Record<string, string>
  results: Array<{
    name: string
    value: number | null
    unit: string
    target: string | null
    pass: boolean | null
  }>
}

/** The benchmark runs end to end in its tiny configuration; the figures themselves are not checked. */
describe('npm run bench -- --quick --json', () => {
  it('prints and saves a report with machine, versions and a result from every section', async () => {
    const { stdout } = await run(
      process.execPath,
      ['scripts/bench.ts', '--quick', '--json', '--results-dir', resultsDir],
      { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
    )
    const report = JSON.parse(stdout) as Report
    expect(report.machine.cpus).toBeGreaterThan(0)
    expect(report.versions.node).toBe(process.version)
    expect(report.versions.libp2p).toMatch(/^\d+\./)
    for (const section of [
      'loopback.',
      'cross_process.',
      'local_read.',
      'emulated.',
      'long_fat_link.',
      'multi_source.',
      'multi_process.',
      'placements.',
      'dht.',
      'dht_scale.',
      'vivaldi.',
      'quic.',
      'cli_startup.',
    ]) {
      expect(report.results.some((r) => r.name.startsWith(section))).toBe(true)
    }
    expect(report.results.filter((r) => r.name.endsWith('.error'))).toEqual([])
    for (const r of report.results) {
      expect(typeof r.name).toBe('string')
      expect(typeof r.unit).toBe('string')
      // NaN becomes null in JSON; anything else must be a number.
      expect(r.value === null || typeof r.value === 'number').toBe(true)
      expect(r.target === null || typeof r.target === 'string').toBe(true)
      expect(r.pass === null || typeof r.pass === 'boolean').toBe(true)
      expect(r.target === null).toBe(r.pass === null)
    }
    const saved = await readdir(resultsDir)
    expect(saved).toHaveLength(1)
    expect(JSON.parse(await readFile(join(resultsDir, saved[0] as string), 'utf8'))).toEqual(report)
  }, 320_000)
})

describe('npm run bench with a mistyped flag', () => {
  it('stops with its usage instead of running every section', async () => {
    const failed = await run(process.execPath, ['scripts/bench.ts', '--quik'], { timeout: 30_000 }).then(
      () => undefined,
      (err: { code?: number; stderr?: string }) => err,
    )
    expect(failed?.code).toBe(2)
    expect(failed?.stderr).toMatch(/Unknown option '--quik'[\s\S]*usage: npm run bench/)
  })
})
