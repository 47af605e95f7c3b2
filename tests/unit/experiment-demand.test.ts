import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { chartSpecs } from '../../src/experiment/charts.ts'
import { combineResults, groupOf } from '../../src/experiment/combine.ts'
import {
  checkModel,
  fitCpuModel,
  fitSwarmModel,
  modelSeconds,
  peersForDemand,
  peersForRate,
  stallFraction,
  worstError,
} from '../../src/experiment/demand-model.ts'
import { dollarsPerGB, OBJECT_STORE_PRICES } from '../../src/experiment/prices.ts'
import { churnComparisons } from '../../src/experiment/report-churn.ts'
import { costRows, costSection, sharedPrice } from '../../src/experiment/report-cost.ts'
import {
  CROSS_CHECK_TOLERANCE,
  crossCheckRows,
  crossCheckSection,
} from '../../src/experiment/report-crosscheck.ts'
import { analyseDemand, demandSection, MODEL_TOLERANCE } from '../../src/experiment/report-demand.ts'
import { parseResults, type Results } from '../../src/experiment/types.ts'

const committed = (dir: string): Results =>
  parseResults(
    JSON.parse(readFileSync(new URL(`../../docs/results/${dir}/results.json`, import.meta.url), 'utf8')),
  )

describe('the swarm delivery model', () => {
  const truth = { efficiency: 0.95, startupSeconds: 0.04 }
  const R = 3.125e6
  const points = [1, 4, 16].map((k) => ({
    k,
    bytes: 64e6,
    uplinkBytesPerSec: R,
    seconds: modelSeconds(truth, k, 64e6, R),
  }))

  it('recovers the efficiency and start-up it was generated with', () => {
    const model = fitSwarmModel(points)
    expect(model.efficiency).toBeCloseTo(0.95, 6)
    expect(model.startupSeconds).toBeCloseTo(0.04, 6)
    expect(worstError(checkModel(model, points))).toBeLessThan(1e-9)
  })

  it('reports the sign of an error: a cell slower than the model gets a positive error', () => {
    const model = fitSwarmModel(points)
    const slow = { ...points[2]!, seconds: points[2]!.seconds * 1.2 }
    const [check] = checkModel(model, [slow])
    expect(check!.error).toBeCloseTo(0.2, 6)
  })

  it('refuses to fit one k, or run times that rise with k', () => {
    expect(() => fitSwarmModel([points[0]!])).toThrow(/two or more/)
    expect(() => fitSwarmModel([points[0]!, { ...points[0]! }])).toThrow(/two or more/)
    const rising = points.map((p, i) => ({ ...p, seconds: 1 + i }))
    expect(() => fitSwarmModel(rising)).toThrow(/do not fall/)
  })

  it('fits CPU as cores at rest plus CPU-seconds per GB', () => {
    const runs = [
      { wallSeconds: 10, bytes: 1e9 },
      { wallSeconds: 20, bytes: 0.5e9 },
      { wallSeconds: 5, bytes: 2e9 },
    ].map((r) => ({ ...r, cpuSeconds: 0.2 * r.wallSeconds + 8 * (r.bytes / 1e9) }))
    const cpu = fitCpuModel(runs)
    expect(cpu.coresAtRest).toBeCloseTo(0.2, 9)
    expect(cpu.cpuSecondsPerGB).toBeCloseTo(8, 9)
  })
})

describe('peers for a demand, with churn', () => {
  const base = {
    demandBytesPerSec: 285e6,
    perPeerBytesPerSec: 3e6,
    meanSessionSeconds: 5 * 3600,
    replacementSeconds: 30,
  }

  it('needs ceil(demand / per-peer) peers for the rate alone', () => {
    expect(peersForRate(285e6, 3e6)).toBe(95)
    expect(peersForRate(300e6, 3e6)).toBe(100)
    expect(peersForRate(12e3, 3e6)).toBe(1)
    expect(() => peersForRate(1, 0)).toThrow()
  })

  it('stalls only while peers are missing, and never when replacement is instant', () => {
    expect(stallFraction({ ...base, replacementSeconds: 0 }, 95).stall).toBe(0)
    const { missingMean, stall } = stallFraction(base, 95)
    expect(missingMean).toBeCloseTo((95 * 30) / (5 * 3600), 12)
    // P(>= 1 missing) x (one peer's share of the demand) is about the size of the answer
    expect(stall).toBeGreaterThan(0)
    expect(stall).toBeLessThan(1 - Math.exp(-missingMean))
  })

  it('a buffer that outlasts the shortfall of one replacement rides it out', () => {
    const one = stallFraction({ ...base, bufferBytes: 0 }, 95).stall
    const ridden = stallFraction({ ...base, bufferBytes: 3e6 * 30 * 3 }, 95).stall
    expect(ridden).toBeLessThan(one / 10)
  })

  it('adds spares when peers leave often and stay missing long', () => {
    const churny = { ...base, meanSessionSeconds: 600, replacementSeconds: 120 }
    const answer = peersForDemand(churny, 0.01)
    expect(answer.spares).toBeGreaterThan(0)
    expect(answer.stallFraction).toBeLessThanOrEqual(0.01)
    expect(stallFraction(churny, answer.peers - 1).stall).toBeGreaterThan(0.01)
  })
})

describe('object-store prices', () => {
  it('adds the read requests of a workload to the egress per GB', () => {
    const s3 = OBJECT_STORE_PRICES.find((p) => p.name.startsWith('AWS'))!
    expect(dollarsPerGB(s3, 1e6)).toBeCloseTo(0.09 + (1000 * 0.0004) / 1000, 12)
    // smaller requests cost more per GB
    expect(dollarsPerGB(s3, 64 * 1024)).toBeGreaterThan(dollarsPerGB(s3, 1024 * 1024))
    for (const p of OBJECT_STORE_PRICES) expect(p.source).toMatch(/^https:\/\//)
  })
})

describe('the committed full run with its group runs', () => {
  const full = committed('full')
  const churn = committed('churn')
  const load = committed('load')
  const combined = combineResults(full, [churn, load])

  it('combines the groups beside the core matrix, unchanged', () => {
    expect(combined.cells.length).toBe(full.cells.length + churn.cells.length + load.cells.length)
    expect(combined.config.knobs['groups']).toBe('churn,load')
    expect(String(combined.config.knobs['groupsFrom'])).toContain(churn.startedAt)
    // each group is read against its own run's at-rest cell, not the core run's network cell
    for (const { baseline } of churnComparisons(combined)) expect(baseline.tag).toBe('churn-none')
    expect(() => combineResults(full, [churn, churn])).toThrow(/more than one/)
    expect(() => combineResults(full, [full])).toThrow(/holds no cells of a group/)
    expect(() => combineResults(churn, [combined])).toThrow(/more than one/)
    expect(groupOf(combined.cells.at(-1)!)).toBe('load')
  })

  it('fits the swarm model within 10% of every measured point of the run', () => {
    const analysis = analyseDemand(combined)!
    expect(analysis.fitted.map((f) => f.cell.k)).toEqual([1, 4, 16])
    expect(analysis.checked.length).toBeGreaterThanOrEqual(5)
    const worst = worstError([...analysis.fitted, ...analysis.checked].map((c) => c.check))
    expect(worst).toBeLessThanOrEqual(MODEL_TOLERANCE)
    // the load factors are the run's measured W1 loaded / idle throughput
    const bloated = analysis.load.find((l) => l.condition === 'bloated')!
    expect(bloated.factor).toBeGreaterThan(0.5)
    expect(bloated.factor).toBeLessThan(0.9)
    const section = demandSection(combined, [])
    expect(section).toContain('accepted')
    // CPU per GB of the fitted cells, as this machine measured it with every node in one process
    expect(section).toMatch(
      /\| fit \| W2-sequential-shards 100 km, k=16 \| 16 \| 48\.88 \| [\d.]+ \| [+-][\d.]+% \| \d+(\.\d+)? \|/,
    )
    expect(section).toMatch(
      /\| image training, one A100 \(ResNet-50\) \| 285 \| idle uplinks \| 3\.\d+ \| 9\d \|/,
    )
  })

  it('without the k-peer cells it fits nothing and says so', () => {
    const bare = { ...full, cells: full.cells.filter((c) => c.placement !== 'P2-residential-peers') }
    expect(analyseDemand(bare)).toBeUndefined()
    expect(demandSection(bare, [])).toContain('no model fitted')
  })

  it('prices every workload at the offers and the stores', () => {
    const rows = costRows(combined)
    expect(rows.map((r) => r.workload)).toEqual([
      'W1-random-samples',
      'W2-sequential-shards',
      'W3-token-stream',
      'W4-bulk-staging',
    ])
    const w3 = rows.find((r) => r.workload === 'W3-token-stream')!
    expect(w3.requestBytes).toBe(65536)
    // a lab run prices at the node's default offer: 1 credit per GiB
    expect(w3.creditsPerGB).toBeCloseTo(1e9 / 1024 ** 3, 9)
    expect(costSection(combined, [])).toContain("the node's default offer")
  })

  it('sets the kernel-shaped hosts of the netns live run beside the emulator, within 10%', () => {
    const live = committed('live-netns')
    const withLive = combineResults(full, [churn, load, live])
    expect(withLive.crossChecks?.[0]?.startedAt).toBe(live.startedAt)
    expect(() => combineResults(full, [live, live])).toThrow(/more than one/)
    const rows = crossCheckRows(withLive)
    // the two home hosts (20 and 25 Mbit/s by tc); the consumer's own daemon is not a shaped link
    expect(rows.map((r) => r.provider.offer?.uplinkMbps).sort()).toEqual([20, 25])
    for (const r of rows) {
      expect(r.emulatorCell.id).toBe('W2-P2-100km-k1-if16-1024k')
      expect(Math.abs(1 - r.agreement)).toBeLessThanOrEqual(CROSS_CHECK_TOLERANCE)
    }
    expect(crossCheckSection(withLive)).toContain('Every pair agrees within 10.0%')
    // every section of issue 14's list has its chart
    const files = chartSpecs(withLive).map((c) => c.file)
    for (const f of [
      'latency-under-load.svg',
      'churn.svg',
      'demand-model.svg',
      'cost-per-gb.svg',
      'kernel-cross-check.svg',
    ])
      expect(files).toContain(f)
    expect(crossCheckSection(combined)).toContain('_No kernel-shaped live run')
  })

  it("a live run prices at its providers' offers and what the ledger paid", () => {
    const live = committed('live-netns')
    const price = sharedPrice(live)
    expect(price.creditsPerGiB).toBe(1)
    expect(price.paidPerDelivered).toBeGreaterThan(0.9)
    expect(price.paidPerDelivered).toBeLessThan(1.1)
  })
})
