import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, tempDir } from '../helpers/daemon.ts'

const RESULTS = resolve(import.meta.dirname, '../../docs/results')

/**
 * `bwnode experiment --combine`: one report from the committed full run and its group runs,
 * through the real CLI; bad input is a usage error (exit 2) that writes nothing.
 */
describe('bwnode experiment --combine', () => {
  it('writes one report holding the core matrix, the groups, the demand model and the cost', async () => {
    const out = join(await tempDir('bwnode-combine-'), 'report')
    try {
      const r = await runCli([
        'experiment',
        '--combine',
        join(RESULTS, 'full'),
        '--combine',
        join(RESULTS, 'churn'),
        '--combine',
        join(RESULTS, 'load'),
        '--combine',
        join(RESULTS, 'live-netns'),
        '--out',
        out,
        '--json',
      ])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).reportPath).toBe(join(out, 'report.md'))
      const report = await readFile(join(out, 'report.md'), 'utf8')
      for (const section of [
        '## Latency under load',
        '## Churn',
        '## Demand at GPU scale',
        '## Cost',
        '## Kernel cross-check',
      ])
        expect(report).toContain(section)
      expect(report).not.toContain('_No churn cells in these results._')
      expect(report).toContain('Every pair agrees within 10.0%')
      expect(existsSync(join(out, 'charts', 'demand-model.svg'))).toBe(true)
      expect(existsSync(join(out, 'charts', 'cost-per-gb.svg'))).toBe(true)
    } finally {
      await rm(resolve(out, '..'), { recursive: true, force: true })
    }
  })

  it('writes the report of one run alone again, with the sections this version has', async () => {
    const out = join(await tempDir('bwnode-rerender-'), 'report')
    try {
      const r = await runCli(['experiment', '--combine', join(RESULTS, 'churn'), '--out', out])
      expect(r.code, r.stderr).toBe(0)
      const report = await readFile(join(out, 'report.md'), 'utf8')
      expect(report).toContain('## Churn')
      expect(report).toContain('## Scheduling')
      expect(report).toContain('_No scheduling cells in these results._')
    } finally {
      await rm(resolve(out, '..'), { recursive: true, force: true })
    }
  })

  it('refuses a missing dir and measuring flags, with exit 2 and nothing written', async () => {
    const out = join(await tempDir('bwnode-combine-bad-'), 'report')
    const cases: [string[], RegExp][] = [
      [
        ['--combine', join(RESULTS, 'full'), '--combine', '/nonexistent/run'],
        /cannot read \/nonexistent\/run\/results.json/,
      ],
      [['--combine', join(RESULTS, 'full'), '--combine', join(RESULTS, 'full')], /holds no cells of a group/],
      [
        ['--combine', join(RESULTS, 'full'), '--combine', join(RESULTS, 'load'), '--quick'],
        /measures nothing/,
      ],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(['experiment', ...args, '--out', out])
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(existsSync(out)).toBe(false)
    }
    await rm(resolve(out, '..'), { recursive: true, force: true })
  })
})
