import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { chartSpecs } from '../../src/experiment/charts.ts'
import { writeReport } from '../../src/experiment/report.ts'
import {
  type Cell,
  parseResults,
  RESULTS_SCHEMA_VERSION,
  type Results,
  type Run,
} from '../../src/experiment/types.ts'
import { computeVerdicts, workloadVerdict } from '../../src/experiment/verdict.ts'
import { histogramOf } from '../../src/latency/histogram.ts'

const MB = 1_000_000

/** Five runs with a little deterministic jitter around the given values. */
function runs(base: Omit<Run, 'latencyHistogram'> & { latencyMs: number }): Run[] {
  const jitter = [1, 1.02, 0.98, 1.01, 0.99]
  return jitter.map((j) => {
    const { latencyMs, ...rest } = base
    return {
      ...rest,
      seconds: base.seconds * j,
      throughputMBps: base.throughputMBps / j,
      ...(base.epochSeconds !== undefined ? { epochSeconds: base.epochSeconds * j } : {}),
      latencyHistogram: histogramOf(
        Array.from({ length: 50 }, (_, i) => latencyMs * j * (1 + i / 1000)),
      ).encode(),
    }
  })
}

function results(cells: Cell[], passed = true): Results {
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    startedAt: '2025-01-01T00:00:00.000Z',
    config: { mode: 'quick', seed: 42, repetitions: 5, knobs: { routeInflation: 1.5, inFlight: [1, 8, 64] } },
    machine: { cpus: 2, memGiB: 8, platform: 'linux-x64', node: 'v24.9.0' },
    versions: { bwnode: '0.1.0', libp2p: '3.3.11' },
    calibration: {
      zeroDelayOverheadRatio: 0.97,
      rtt: [{ configuredMs: 20, measuredMs: 20.4 }],
      rate: [{ configuredMbps: 25, measuredMbps: 24.6 }],
      passed,
      notes: passed ? 'within 5%' : 'measured RTT 60% above configured: the delay line is overloaded',
    },
    cells,
  }
}

const W1_BYTES = 100 * MB
const W1_TARGET = 285

function localW1(): Cell {
  return {
    id: 'w1-local-warm',
    workload: 'W1-random-samples',
    placement: 'P0-local-warm',
    inFlight: 1,
    chunkSizeBytes: 100_000,
    targetRateMBps: W1_TARGET,
    model: { oneWayDelayMs: { propagationMs: 0, accessMs: 0 }, rateMbps: 0 },
    runs: runs({
      seconds: 0.4,
      bytes: W1_BYTES,
      throughputMBps: 250,
      ttfbMs: 0.2,
      epochSeconds: 0.4,
      stallFraction: 0,
      originBytes: 0,
      peerBytes: 0,
      latencyMs: 0.3,
    }),
  }
}

/**
 * Peers 1000 km away on fast, low-latency links, one request in flight: 1000 round trips of ~14.7 ms
 * propagation each. Distance is most of the gap to local storage.
 */
function distantFastPeersW1(): Cell {
  return {
    id: 'w1-peers-1000km',
    workload: 'W1-random-samples',
    placement: 'P2-residential-peers',
    distanceKm: 1000,
    k: 1,
    inFlight: 1,
    chunkSizeBytes: 100_000,
    targetRateMBps: W1_TARGET,
    model: { oneWayDelayMs: { propagationMs: 7.35, accessMs: 0.25 }, rateMbps: 10_000 },
    runs: runs({
      seconds: 16,
      bytes: W1_BYTES,
      throughputMBps: 6.25,
      ttfbMs: 16,
      epochSeconds: 16,
      stallFraction: 0.9,
      originBytes: 0,
      peerBytes: W1_BYTES,
      latencyMs: 15.3,
    }),
  }
}

/**
 * Residential peers 10 km away: 20 ms of access delay each way and a 25 Mbit/s uplink. They lose to
 * local storage, but distance (0.15 ms per round trip) explains almost none of it.
 */
function nearSlowPeersW1(): Cell {
  return {
    id: 'w1-peers-10km',
    workload: 'W1-random-samples',
    placement: 'P2-residential-peers',
    distanceKm: 10,
    k: 1,
    inFlight: 1,
    chunkSizeBytes: 100_000,
    targetRateMBps: W1_TARGET,
    model: { oneWayDelayMs: { propagationMs: 0.07, accessMs: 20 }, rateMbps: 25 },
    runs: runs({
      seconds: 75,
      bytes: W1_BYTES,
      throughputMBps: 1.3,
      ttfbMs: 45,
      epochSeconds: 75,
      stallFraction: 0.95,
      originBytes: 0,
      peerBytes: W1_BYTES,
      latencyMs: 72,
    }),
  }
}

/** Sixteen peers keep the consumer fed: a slower epoch than local disk, but no stalls. */
function manyPeersWithoutStallsW1(): Cell {
  return {
    ...nearSlowPeersW1(),
    id: 'w1-peers-10km-k16',
    k: 16,
    inFlight: 64,
    model: { oneWayDelayMs: { propagationMs: 0.07, accessMs: 5 }, rateMbps: 1000 },
    runs: runs({
      seconds: 0.6,
      bytes: W1_BYTES,
      throughputMBps: 290,
      ttfbMs: 11,
      epochSeconds: 0.6,
      stallFraction: 0.01,
      originBytes: 0,
      peerBytes: W1_BYTES,
      latencyMs: 12,
    }),
  }
}

function bulkCell(
  id: string,
  placement: Cell['placement'],
  mbps: number,
  extra: Partial<Cell> = {},
  bytesSplit?: { origin: number; peer: number },
): Cell {
  const bytes = 1000 * MB
  const seconds = bytes / MB / mbps
  return {
    id,
    workload: 'W2-sequential-shards',
    placement,
    inFlight: 16,
    chunkSizeBytes: 1 << 20,
    model: { oneWayDelayMs: { propagationMs: 0, accessMs: 0 }, rateMbps: 0 },
    runs: runs({
      seconds,
      bytes,
      throughputMBps: mbps,
      ttfbMs: 5,
      originBytes: bytesSplit?.origin ?? 0,
      peerBytes: bytesSplit?.peer ?? 0,
      latencyMs: 10,
    }),
    ...extra,
  }
}

describe('verdict', () => {
  it('holds when local storage wins W1 and distance is the main share of the gap', () => {
    const v = workloadVerdict(results([localW1(), distantFastPeersW1()]), 'W1-random-samples')
    expect(v.status).toBe('holds')
    expect(v.rule).toBe('R3')
    expect(v.winner?.cell.placement).toBe('P0-local-warm')
    expect(v.distanceShareOfGap).toBeGreaterThan(0.5)
    expect(v.confidence).toBe('high')
    expect(v.ratio!.low).toBeGreaterThan(1)
  })

  it('holds for other reasons when local wins but distance is a small share', () => {
    const v = workloadVerdict(results([localW1(), nearSlowPeersW1()]), 'W1-random-samples')
    expect(v.status).toBe('holds-for-other-reasons')
    expect(v.distanceShareOfGap).toBeLessThan(0.05)
    expect(v.gapParts?.[0]?.part).not.toBe('propagation')
    expect(v.reason).toMatch(/access|transfer|queueing/)
  })

  it('fails when peers meet the W1 target rate without stalls, even if local is faster', () => {
    const v = workloadVerdict(
      results([localW1(), nearSlowPeersW1(), manyPeersWithoutStallsW1()]),
      'W1-random-samples',
    )
    expect(v.winner?.cell.placement).toBe('P0-local-warm')
    expect(v.status).toBe('fails')
    expect(v.rule).toBe('R2')
    expect(v.reason).toMatch(/without stalls/)
  })

  it('fails for W2 when peers beat the distant origin, holds when they do not', () => {
    const local = bulkCell('w2-local', 'P0-local-cold', 2000)
    const origin = bulkCell('w2-origin', 'P3-origin', 100, {}, { origin: 1000 * MB, peer: 0 })
    const fastPeers = bulkCell('w2-peers-k16', 'P2-residential-peers', 180, { k: 16, distanceKm: 100 })
    const slowPeers = bulkCell('w2-peers-k1', 'P2-residential-peers', 3, {
      k: 1,
      distanceKm: 100,
      model: { oneWayDelayMs: { propagationMs: 0.7, accessMs: 20 }, rateMbps: 25 },
    })
    const peersWin = workloadVerdict(results([local, origin, fastPeers]), 'W2-sequential-shards')
    expect(peersWin.status).toBe('fails')
    expect(peersWin.reason).toMatch(/beat the distant origin/)
    expect(peersWin.comparisons.map((c) => c.label)).toContain('peers vs origin')

    const peersLose = workloadVerdict(results([local, origin, slowPeers]), 'W2-sequential-shards')
    expect(peersLose.status).not.toBe('fails')
    expect(peersLose.status).toBe('holds-for-other-reasons')
    expect(peersLose.comparisons.map((c) => c.label)).toContain('origin vs peers')
  })

  it('does not count origin-plus-peers matching the origin as peers matching it', () => {
    const local = bulkCell('w2-local', 'P0-local-cold', 2000)
    const origin = bulkCell('w2-origin', 'P3-origin', 100, {}, { origin: 1000 * MB, peer: 0 })
    // The origin does all the work in the P4 cell; the peers alone are far slower.
    const originPlusPeers = bulkCell(
      'w2-p4',
      'P4-origin-plus-peers',
      100,
      { k: 4, distanceKm: 10 },
      {
        origin: 1000 * MB,
        peer: 0,
      },
    )
    const slowPeers = bulkCell('w2-peers-k4', 'P2-residential-peers', 12, {
      k: 4,
      distanceKm: 10,
      model: { oneWayDelayMs: { propagationMs: 0.07, accessMs: 20 }, rateMbps: 25 },
    })
    const v = workloadVerdict(results([local, origin, originPlusPeers, slowPeers]), 'W2-sequential-shards')
    expect(v.status).not.toBe('fails')
    expect(v.comparisons.map((c) => c.label)).toContain('origin vs peers')
  })

  it('fails W3 when a peer stream never stalls, though local storage has the lower TTFB', () => {
    const stream = (
      id: string,
      placement: Cell['placement'],
      ttfbMs: number,
      stallFraction: number,
    ): Cell => ({
      ...bulkCell(id, placement, 1),
      workload: 'W3-token-stream',
      runs: runs({
        seconds: 60,
        bytes: 720_000,
        throughputMBps: 0.012,
        ttfbMs,
        stallFraction,
        originBytes: 0,
        peerBytes: 0,
        latencyMs: ttfbMs,
      }),
    })
    const v = workloadVerdict(
      results([
        stream('w3-local', 'P0-local-cold', 0.2, 0),
        stream('w3-peers', 'P2-residential-peers', 40, 0),
      ]),
      'W3-token-stream',
    )
    expect(v.winner?.cell.id).toBe('w3-local')
    expect(v.status).toBe('fails')
    const stalling = workloadVerdict(
      results([
        stream('w3-local', 'P0-local-cold', 0.2, 0),
        stream('w3-peers', 'P2-residential-peers', 40, 0.3),
      ]),
      'W3-token-stream',
    )
    expect(stalling.status).not.toBe('fails')
  })

  it('judges W4 on time to stage: peers that stage faster than the origin make it fail', () => {
    const staging = (c: Cell): Cell => ({ ...c, workload: 'W4-bulk-staging' })
    const v = workloadVerdict(
      results([
        staging(bulkCell('w4-local', 'P0-local-cold', 2000)),
        staging(bulkCell('w4-origin', 'P3-origin', 100)),
        staging(bulkCell('w4-peers', 'P2-residential-peers', 400, { k: 16, distanceKm: 10 })),
      ]),
      'W4-bulk-staging',
    )
    expect(v.metric.name).toBe('time to stage')
    expect(v.status).toBe('fails')
    const originVsPeers = v.comparisons.find((c) => c.label === 'peers vs origin')!
    expect(originVsPeers.ratio.ratio).toBeCloseTo(4, 1)
  })

  it('is inconclusive for every workload when calibration failed', () => {
    const verdicts = computeVerdicts(results([localW1(), distantFastPeersW1()], false))
    expect(verdicts).toHaveLength(1)
    for (const v of verdicts) {
      expect(v.status).toBe('inconclusive')
      expect(v.rule).toBe('R0')
      expect(v.reason).toMatch(/calibration failed/)
      expect(v.winner).toBeUndefined()
    }
  })

  it('is inconclusive without a peer cell, and gives medium confidence with fewer than 5 runs', () => {
    expect(workloadVerdict(results([localW1()]), 'W1-random-samples')).toMatchObject({
      status: 'inconclusive',
      rule: 'R1',
    })
    const few = (c: Cell): Cell => ({ ...c, runs: c.runs.slice(0, 3) })
    const v = workloadVerdict(results([few(localW1()), few(distantFastPeersW1())]), 'W1-random-samples')
    expect(v.status).toBe('holds')
    expect(v.confidence).toBe('medium')
  })
})

describe('report', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  const fullCells = (): Cell[] => [
    localW1(),
    distantFastPeersW1(),
    nearSlowPeersW1(),
    bulkCell('w2-local', 'P0-local-cold', 2000),
    bulkCell('w2-origin', 'P3-origin', 100, {}, { origin: 1000 * MB, peer: 0 }),
    bulkCell('w2-mixed', 'P4-origin-plus-peers', 150, { k: 4 }, { origin: 400 * MB, peer: 600 * MB }),
    ...[1, 4, 16].map((k) =>
      bulkCell(`w2-peers-k${k}`, 'P2-residential-peers', 3 * k, {
        k,
        distanceKm: 100,
        model: { oneWayDelayMs: { propagationMs: 0.7, accessMs: 20 }, rateMbps: 25 },
      }),
    ),
  ]

  it('writes results.json, report.md with every section, and valid SVG charts it links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-report-'))
    dirs.push(dir)
    const input = results(fullCells())
    const out = await writeReport(input, dir)

    const md = await readFile(out.reportPath, 'utf8')
    for (const heading of [
      '## Summary verdict',
      '## Calibration',
      '## Method',
      '## Results per workload',
      '## Latency decomposition',
      '## k-peer scaling',
      '## Peers vs origin',
      '## Verdict per workload',
      '## Machine and versions',
    ]) {
      expect(md).toContain(heading)
    }
    expect(md).toContain('4.9 us per km')
    expect(md).toContain('285 MB/s')
    expect(md).toContain('R3 local wins')
    expect(md).toContain('60.0%') // bytes off the origin for the mixed cell

    const specs = chartSpecs(input)
    expect(specs.map((s) => s.file).sort()).toEqual(
      [
        'k-peer-scaling.svg',
        'latency-decomposition.svg',
        'peers-vs-origin.svg',
        'throughput-vs-distance.svg',
        'w1-epoch-stall.svg',
      ].sort(),
    )
    const links = [...md.matchAll(/\]\((charts\/[^)]+\.svg)\)/g)].map((m) => m[1]!)
    for (const spec of specs) {
      const rel = `charts/${spec.file}`
      expect(links).toContain(rel)
      const svg = await readFile(join(dir, rel), 'utf8')
      expect(svg.startsWith('<svg')).toBe(true)
      expect(svg).toContain(spec.title)
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    }
    for (const rel of links) expect(existsSync(join(dir, rel))).toBe(true)

    const reread = parseResults(JSON.parse(await readFile(out.resultsPath, 'utf8')))
    expect(reread).toEqual(input)
    expect(out.verdicts.map((v) => v.status)).toEqual(computeVerdicts(reread).map((v) => v.status))
  })

  it('refuses loudly and draws no conclusion when calibration failed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-report-'))
    dirs.push(dir)
    const out = await writeReport(results(fullCells(), false), dir)
    const md = await readFile(out.reportPath, 'utf8')
    expect(md).toContain('CALIBRATION FAILED')
    expect(md).toContain('delay line is overloaded')
    expect(md).not.toMatch(/\*\*(holds|fails|holds-for-other-reasons)\*\*/)
    expect(out.verdicts.every((v) => v.status === 'inconclusive')).toBe(true)
  })

  it('rejects invalid results before writing anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-report-'))
    dirs.push(dir)
    const bad = { ...results([]), schemaVersion: 2 } as unknown as Results
    await expect(writeReport(bad, dir)).rejects.toThrow(/invalid results/)
    expect(existsSync(join(dir, 'report.md'))).toBe(false)
  })
})
