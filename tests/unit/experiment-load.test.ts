import { describe, expect, it } from 'vitest'
import { EXPERIMENT_GROUPS } from '../../src/cli/commands/experiment.ts'
import { chartSpecs } from '../../src/experiment/charts.ts'
import { churnComparisons, churnSection, secondsPerDeparture } from '../../src/experiment/report-churn.ts'
import { loadComparisons, loadSection } from '../../src/experiment/report-load.ts'
import {
  buildPlan,
  CELL_GROUPS,
  cellPaths,
  DECIDING_DISTANCE_KM,
  groupPlan,
  LOAD_CONDITIONS,
  placementPaths,
  SESSION_MEDIAN_HOURS,
  SESSION_P80_HOURS,
  sessionWeibull,
} from '../../src/experiment/scenarios.ts'
import type { Cell, Run } from '../../src/experiment/types.ts'
import { histogramOf } from '../../src/latency/histogram.ts'
import { BLOATED_QUEUE_MS } from '../../src/net/uplink-load.ts'
import { labResults } from '../helpers/results.ts'

describe('latency-under-load cells in the plan', () => {
  it('the full run reads W1 and W3 at the claim distance under a bloated and a managed queue', () => {
    const plan = buildPlan('full')
    const cells = plan.cellsAtDistance(DECIDING_DISTANCE_KM)
    const loaded = cells.filter((c) => c.load !== undefined)
    expect(loaded.map((c) => `${c.workload} k=${c.k} ${c.tag}`).sort()).toEqual([
      'W1-random-samples k=16 load-bloated',
      'W1-random-samples k=16 load-managed',
      'W3-token-stream k=1 load-bloated',
      'W3-token-stream k=1 load-managed',
    ])
    // supplementary: a loaded cell never decides a status
    for (const c of loaded) expect(c.role).toBeUndefined()
    // each has its unloaded baseline: the network cell with the same workload and k
    for (const c of loaded)
      expect(cells.some((b) => b.role === 'network' && b.workload === c.workload && b.k === c.k)).toBe(true)
    expect(
      buildPlan('quick')
        .cellsAtDistance(DECIDING_DISTANCE_KM)
        .some((c) => c.load),
    ).toBe(false)
  })

  it('--only load runs the group and its baselines at one distance, deciding nothing', () => {
    const plan = groupPlan('full', 'load')
    expect(plan.fixedCells).toEqual([])
    expect(plan.distancesKm).toEqual([DECIDING_DISTANCE_KM])
    const cells = plan.cellsAtDistance(DECIDING_DISTANCE_KM)
    expect(cells.filter((c) => c.tag === 'load-none').map((c) => c.workload)).toEqual([
      'W1-random-samples',
      'W3-token-stream',
    ])
    expect(cells.filter((c) => c.load !== undefined)).toHaveLength(4)
    expect(cells.every((c) => c.role === undefined)).toBe(true)
    expect([...EXPERIMENT_GROUPS]).toEqual([...CELL_GROUPS])
  })

  it('what the links allow accounts for the household share and the standing queue', () => {
    const idle = placementPaths('P2-residential-peers', 100, 1)[0]!
    const cell = groupPlan('full', 'load')
      .cellsAtDistance(100)
      .find((c) => c.tag === 'load-bloated' && c.workload === 'W3-token-stream')!
    const loaded = cellPaths(cell)[0]!
    const share = LOAD_CONDITIONS.bloated.crossTrafficShare
    expect(loaded.rateBytesPerSec).toBeCloseTo(idle.rateBytesPerSec * (1 - share), 6)
    expect(loaded.rttMs).toBeCloseTo(idle.rttMs + BLOATED_QUEUE_MS, 6)
  })
})

function run(ttfbMs: number, seconds: number, stall: number, j: number): Run {
  return {
    seconds: seconds * j,
    bytes: 8e6,
    throughputMBps: 8 / (seconds * j),
    ttfbMs: ttfbMs * j,
    stallFraction: stall,
    latencyHistogram: histogramOf([ttfbMs * j, ttfbMs * j * 1.2]).encode(),
    originBytes: 0,
    peerBytes: 8e6,
  }
}

function w3(tag: string | undefined, ttfbMs: number, load?: Cell['load']): Cell {
  return {
    id: `${tag ?? 'net'}-W3`,
    workload: 'W3-token-stream',
    placement: 'P2-residential-peers',
    distanceKm: 100,
    k: 1,
    inFlight: 16,
    chunkSizeBytes: 65536,
    model: { oneWayDelayMs: { propagationMs: 0.7, accessMs: 10 }, rateMbps: 25 },
    ...(tag === undefined ? { role: 'network' as const } : { tag }),
    ...(load === undefined ? {} : { load }),
    runs: [1, 1.02, 0.98].map((j) => run(ttfbMs, 4, 0.01, j)),
  }
}

describe('the report section', () => {
  const results = labResults([
    w3(undefined, 25),
    w3('load-bloated', 100, LOAD_CONDITIONS.bloated),
    w3('load-managed', 30, LOAD_CONDITIONS.managed),
  ])

  it('reads each loaded cell against its idle baseline, with intervals', () => {
    const [comparison] = loadComparisons(results)
    expect(comparison?.baseline.role).toBe('network')
    expect(comparison?.members.map((c) => c.tag)).toEqual(['load-bloated', 'load-managed'])
    const text = loadSection(results, [])
    expect(text).toMatch(/## Latency under load/)
    // first byte 100 ms vs 25 ms: 4x
    expect(text).toMatch(/\| bloated \| 25.0% household greedy upload, 75 ms queue \| [^|]+ \| 4x \(95% CI/)
    expect(text).toMatch(/\| managed \| 25.0% household greedy upload, 5 ms queue \| [^|]+ \| 1.2x/)
  })

  it('has a chart, and keeps loaded cells out of the at-rest charts', () => {
    const files = chartSpecs(results).map((c) => c.file)
    expect(files).toContain('latency-under-load.svg')
    const k = chartSpecs(results).find((c) => c.file === 'k-peer-scaling.svg')
    const values = (k?.spec as { data?: { values?: unknown[] } } | undefined)?.data?.values ?? []
    expect(values).toHaveLength(1)
  })

  it('says so when the run has no loaded cells', () => {
    expect(loadSection({ ...results, cells: [results.cells[0]!] }, [])).toMatch(/No latency-under-load cells/)
  })
})

describe('churn cells', () => {
  it('follow the session lengths measured on IPFS: 50% within 2 h, 80% within 8 h', () => {
    const { shape, scaleHours, meanHours } = sessionWeibull()
    const cdf = (hours: number) => 1 - Math.exp(-((hours / scaleHours) ** shape))
    expect(cdf(SESSION_MEDIAN_HOURS)).toBeCloseTo(0.5, 9)
    expect(cdf(SESSION_P80_HOURS)).toBeCloseTo(0.8, 9)
    expect(shape).toBeGreaterThan(0.5)
    expect(shape).toBeLessThan(0.7)
    expect(meanHours).toBeGreaterThan(scaleHours)
  })

  it('the full run has one departure per run for W1, W2 and W4 at the claim distance; --only churn adds baselines', () => {
    const full = buildPlan('full')
      .cellsAtDistance(DECIDING_DISTANCE_KM)
      .filter((c) => c.churn !== undefined)
    expect(full.map((c) => c.workload)).toEqual([
      'W1-random-samples',
      'W2-sequential-shards',
      'W4-bulk-staging',
    ])
    for (const c of full) expect(c.role).toBeUndefined()
    const only = groupPlan('full', 'churn').cellsAtDistance(DECIDING_DISTANCE_KM)
    expect(only.filter((c) => c.tag === 'churn-none')).toHaveLength(3)
    expect(only.every((c) => c.load === undefined)).toBe(true)
  })

  it('the report reads the extra time per departure and scales it by k / mean session', () => {
    const base = w3(undefined, 25)
    const baseline: Cell = { ...base, workload: 'W2-sequential-shards', k: 16 }
    const member: Cell = {
      ...baseline,
      id: 'churn-W2',
      role: undefined,
      tag: 'churn-1',
      churn: { departures: 1, atShareOfRun: 0.3 },
      runs: baseline.runs.map((r) => ({ ...r, seconds: r.seconds + 2, lostSources: [{ atMs: 1000 }] })),
    }
    const results = labResults([baseline, member])
    const [c] = churnComparisons(results)
    expect(secondsPerDeparture(c!.members[0]!, c!.baseline)).toBeCloseTo(2, 6)
    const text = churnSection(results)
    expect(text).toMatch(/## Churn/)
    expect(text).toMatch(/\| 1 per run \| 3 in 3 runs \|/)
    // 16 peers / 5.41 h mean session = 2.96 departures per hour; 2 s each = 0.16% of an hour
    expect(text).toMatch(/\| 2 \| 2.957 \| 0.2% \|/)
  })
})
