import { describe, expect, it } from 'vitest'
import { chartSpecs } from '../../src/experiment/charts.ts'
import { ASSUMED_REPLACEMENT_SECONDS, replacementOf } from '../../src/experiment/report-demand.ts'
import {
  addedShare,
  measuredReplacementSeconds,
  schedulingComparisons,
  schedulingSection,
} from '../../src/experiment/report-scheduling.ts'
import { buildPlan, DECIDING_DISTANCE_KM, groupPlan } from '../../src/experiment/scenarios.ts'
import type { Cell, Run } from '../../src/experiment/types.ts'
import { histogramOf } from '../../src/latency/histogram.ts'
import { labResults } from '../helpers/results.ts'

describe('scheduling cells in the plan', () => {
  it('the full run reads W3 and W4 again with the providers found on the DHT', () => {
    const cells = buildPlan('full').cellsAtDistance(DECIDING_DISTANCE_KM)
    const found = cells.filter((c) => c.discovery === 'dht')
    expect(found.map((c) => `${c.workload} k=${c.k} ${c.tag}`).sort()).toEqual([
      'W3-token-stream k=1 scheduling-dht',
      'W4-bulk-staging k=16 scheduling-dht',
    ])
    for (const c of found) expect(c.role).toBeUndefined()
    expect(
      buildPlan('quick')
        .cellsAtDistance(DECIDING_DISTANCE_KM)
        .some((c) => c.discovery),
    ).toBe(false)
  })

  it('alone, the group carries its own baselines with the providers known', () => {
    const cells = groupPlan('full', 'scheduling').cellsAtDistance(DECIDING_DISTANCE_KM)
    expect(cells.map((c) => `${c.workload} ${c.tag}`).sort()).toEqual([
      'W3-token-stream scheduling-dht',
      'W3-token-stream scheduling-none',
      'W4-bulk-staging scheduling-dht',
      'W4-bulk-staging scheduling-none',
    ])
    for (const c of cells.filter((x) => x.tag === 'scheduling-none')) expect(c.discovery).toBeUndefined()
  })
})

function run(ttfbMs: number, seconds: number, discovery?: Run['discovery']): Run {
  return {
    seconds,
    bytes: 8e6,
    throughputMBps: 8 / seconds,
    ttfbMs,
    latencyHistogram: histogramOf([ttfbMs]).encode(),
    originBytes: 0,
    peerBytes: 8e6,
    ...(discovery === undefined ? {} : { discovery }),
  }
}

function w3(tag: string, ttfbs: number[], found: boolean): Cell {
  return {
    id: `${tag}-W3`,
    workload: 'W3-token-stream',
    placement: 'P2-residential-peers',
    distanceKm: 100,
    k: 1,
    inFlight: 16,
    chunkSizeBytes: 65536,
    model: { oneWayDelayMs: { propagationMs: 0.7, accessMs: 10 }, rateMbps: 25 },
    tag,
    ...(found ? { discovery: 'dht' as const } : {}),
    runs: ttfbs.map((t) =>
      run(
        t,
        30 + t / 1000,
        found
          ? { firstProviderMs: 50, allProvidersMs: 50, providersFound: 1, connectedMs: 80, joinedMs: 900 }
          : undefined,
      ),
    ),
  }
}

describe('the scheduling section', () => {
  const results = labResults([
    w3('scheduling-none', [24, 25, 26], false),
    w3('scheduling-dht', [100, 110, 120], true),
  ])

  it('reads the found cell against the known one: lookup, dial, first byte and its share', () => {
    const [comparison] = schedulingComparisons(results)
    expect(comparison!.baseline.tag).toBe('scheduling-none')
    expect(addedShare(comparison!.members[0]!, comparison!.baseline, (r) => r.ttfbMs)).toBeCloseTo(
      (110 - 25) / 110,
      9,
    )
    const md = schedulingSection(results, [])
    expect(md).toContain(
      '| W3-token-stream | 100 km, k=1 | found on the DHT | 50 / 50 | 80 | 110 [100-120] |',
    )
    expect(md).toContain('77.3%')
    expect(md).toContain('took 900 ms')
    const chart = chartSpecs(results).find((c) => c.file === 'scheduling.svg')
    const values = (chart!.spec as { data: { values: { part: string; ms: number; cell: string }[] } }).data
      .values
    expect(values.filter((v) => v.cell === 'found on the DHT').map((v) => v.ms)).toEqual([50, 30, 30])
  })

  it('the demand model takes its replacement time from the scheduling cells where they exist', () => {
    expect(measuredReplacementSeconds(results)).toBeCloseTo(0.11, 9)
    expect(replacementOf(results).seconds).toBeCloseTo(0.11, 9)
    expect(replacementOf(results).basis).toMatch(/^measured/)
    const without = { ...results, cells: results.cells.slice(0, 1) }
    expect(measuredReplacementSeconds(without)).toBeUndefined()
    expect(replacementOf(without).seconds).toBe(ASSUMED_REPLACEMENT_SECONDS)
    expect(schedulingSection(without, [])).toContain('_No scheduling cells in these results._')
  })
})
