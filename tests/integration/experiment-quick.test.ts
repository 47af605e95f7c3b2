import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runExperiment } from '../../src/experiment/runner.ts'
import { PLACEMENTS, parseResults, WORKLOADS } from '../../src/experiment/types.ts'
import { LatencyHistogram } from '../../src/latency/histogram.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

describe('bwnode experiment --quick', () => {
  it('calibrates, runs every workload and placement, and writes a report with charts and verdicts', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bwnode-experiment-test-'))
    dirs.push(out)
    const lines: string[] = []
    const outcome = await runExperiment({ mode: 'quick', out, seed: 7, onProgress: (l) => lines.push(l) })

    // results.json round-trips through the schema and holds every workload x placement.
    const stored = parseResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')))
    expect(stored.config.mode).toBe('quick')
    expect(stored.config.seed).toBe(7)
    for (const w of WORKLOADS) {
      for (const p of PLACEMENTS) {
        if (w === 'W3-token-stream' && p === 'P4-origin-plus-peers') continue
        expect(
          stored.cells.some((c) => c.workload === w && c.placement === p),
          `${w} ${p}`,
        ).toBe(true)
      }
    }
    for (const cell of stored.cells) {
      expect(cell.runs.length).toBeGreaterThan(0)
      for (const run of cell.runs) {
        expect(run.bytes).toBeGreaterThan(0)
        expect(LatencyHistogram.decode(run.latencyHistogram).count).toBeGreaterThan(0)
      }
    }
    // Calibration was measured, not assumed: configured RTTs and rates each have a measurement.
    expect(stored.calibration.rtt.length).toBeGreaterThanOrEqual(2)
    expect(stored.calibration.rate.length).toBeGreaterThanOrEqual(1)
    for (const r of stored.calibration.rtt) expect(r.measuredMs).toBeGreaterThan(0)
    // Emulated distance shows up: the origin's first byte takes longer than the datacentre peer's.
    const ttfb = (placement: string) =>
      stored.cells.find((c) => c.workload === 'W3-token-stream' && c.placement === placement)!.runs[0]!.ttfbMs
    expect(ttfb('P3-origin')).toBeGreaterThan(ttfb('P1-datacentre-peer'))
    // Origin bytes are counted apart from peer bytes.
    const mixed = stored.cells.find((c) => c.placement === 'P4-origin-plus-peers')!
    expect(mixed.runs[0]!.originBytes + mixed.runs[0]!.peerBytes).toBeGreaterThan(0)

    const report = await readFile(outcome.reportPath, 'utf8')
    for (const section of [
      '## Calibration',
      '## Method',
      '## Results per workload',
      '## Latency decomposition',
      '## k-peer scaling',
      '## Peers vs origin',
    ]) {
      expect(report).toContain(section)
    }
    const charts = [...report.matchAll(/\]\((charts\/[^)]+\.svg)\)/g)].map((m) => m[1]!)
    expect(charts.length).toBeGreaterThan(0)
    for (const chart of new Set(charts)) await access(join(out, chart))

    expect(outcome.verdicts.map((v) => v.workload)).toEqual([...WORKLOADS])
    for (const v of outcome.verdicts) {
      expect(['holds', 'holds-for-other-reasons', 'fails', 'inconclusive']).toContain(v.status)
      expect(report).toContain(v.workload)
    }
    expect(lines.some((l) => l.startsWith('calibration'))).toBe(true)
  }, 150_000)
})
