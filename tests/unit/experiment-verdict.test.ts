import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { chartSpecs } from '../../src/experiment/charts.ts'
import { DECOMPOSITION_PARTS, decompose, explainGap } from '../../src/experiment/decompose.ts'
import { writeReport } from '../../src/experiment/report.ts'
import { cellStats } from '../../src/experiment/stats.ts'
import {
  type Cell,
  parseResults,
  RESULTS_SCHEMA_VERSION,
  type Results,
  type Run,
} from '../../src/experiment/types.ts'
import { computeVerdicts, directionOf, workloadVerdict } from '../../src/experiment/verdict.ts'
import { histogramOf } from '../../src/latency/histogram.ts'

const MB = 1_000_000

/** Five runs with a little deterministic jitter around the given values. */
function runs(base: Omit<Run, 'latencyHistogram'> & { latencyMs: number }, count = 5): Run[] {
  const jitter = [1, 1.02, 0.98, 1.01, 0.99].slice(0, count)
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

type Role = NonNullable<Cell['role']>

/** A W1 cell whose epoch takes `epoch` seconds (time to first byte `ttfb` ms). */
function w1(
  id: string,
  placement: Cell['placement'],
  role: Role | undefined,
  epoch: number,
  extra: Partial<Cell> = {},
  count = 5,
): Cell {
  const local = placement.startsWith('P0')
  return {
    id,
    workload: 'W1-random-samples',
    placement,
    inFlight: 16,
    chunkSizeBytes: 1 << 20,
    targetRateMBps: W1_TARGET,
    model: local
      ? { oneWayDelayMs: { propagationMs: 0, accessMs: 0 }, rateMbps: 0 }
      : { oneWayDelayMs: { propagationMs: 0.7, accessMs: 10 }, rateMbps: 25 },
    ...(role !== undefined ? { role } : {}),
    fidelity: local
      ? { label: 'local', reason: 'local storage' }
      : { label: 'link-bound', reason: '0.98 of the links' },
    runs: runs(
      {
        seconds: epoch,
        bytes: W1_BYTES,
        throughputMBps: W1_BYTES / MB / epoch,
        ttfbMs: local ? 0.2 : 21,
        epochSeconds: epoch,
        stallFraction: local ? 0 : 0.5,
        originBytes: 0,
        peerBytes: local ? 0 : W1_BYTES,
        latencyMs: local ? 0.3 : 30,
      },
      count,
    ),
    ...extra,
  }
}

/** Local 0.4 s; peers 1 km away `near` s; the same peers 100 km away `network` s. */
function w1Cells(near: number, network: number): Cell[] {
  return [
    w1('w1-local', 'P0-local-cold', 'local', 0.4),
    w1('w1-near', 'P2-residential-peers', 'near', near, { distanceKm: 1, k: 16 }),
    w1('w1-network', 'P2-residential-peers', 'network', network, { distanceKm: 100, k: 16 }),
  ]
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
    fidelity: placement.startsWith('P0')
      ? { label: 'local', reason: '' }
      : { label: 'link-bound', reason: '' },
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

const peerModel = { oneWayDelayMs: { propagationMs: 0.7, accessMs: 20 }, rateMbps: 25 }

function w2Cells(peersMBps: number, originMBps: number): Cell[] {
  return [
    bulkCell('w2-local', 'P0-local-cold', 2000, { role: 'local' }),
    bulkCell('w2-near', 'P2-residential-peers', peersMBps, {
      role: 'near',
      k: 16,
      distanceKm: 1,
      model: peerModel,
    }),
    bulkCell('w2-network', 'P2-residential-peers', peersMBps * 0.99, {
      role: 'network',
      k: 16,
      distanceKm: 100,
      model: peerModel,
    }),
    bulkCell('w2-origin', 'P3-origin', originMBps, { role: 'origin' }, { origin: 1000 * MB, peer: 0 }),
  ]
}

describe('verdict', () => {
  it('holds when local storage wins and moving the peers away explains most of the gap', () => {
    const v = workloadVerdict(results(w1Cells(1, 16)), 'W1-random-samples')
    expect(v.outcome.status).toBe('holds')
    expect(v.mechanism.status).toBe('holds')
    expect(v.status).toBe('holds')
    expect(v.rule).toBe('R4')
    expect(v.distanceShareOfGap).toBeGreaterThan(0.9)
  })

  it('holds for other reasons when local wins but distance adds almost nothing', () => {
    const v = workloadVerdict(results(w1Cells(14.8, 15)), 'W1-random-samples')
    expect(v.outcome.status).toBe('holds')
    expect(v.mechanism.status).toBe('fails')
    expect(v.status).toBe('holds-for-other-reasons')
    expect(v.mechanism.share!.high).toBeLessThan(0.5)
  })

  it('fails when the peers are as fast as local storage within the margin, or faster', () => {
    const same = workloadVerdict(results(w1Cells(0.41, 0.405)), 'W1-random-samples')
    expect(same.outcome.comparison?.direction).toBe('equivalent')
    expect(same.status).toBe('fails')
    const faster = workloadVerdict(results(w1Cells(0.2, 0.2)), 'W1-random-samples')
    expect(faster.outcome.comparison?.direction).toBe('second-better')
    expect(faster.status).toBe('fails')
  })

  it('gives opposite statuses to synthetic results with opposite outcomes', () => {
    const localWins = workloadVerdict(results(w2Cells(40, 120)), 'W2-sequential-shards')
    const peersWin = workloadVerdict(
      results(
        w2Cells(40, 120).map((c) =>
          c.role === 'local' ? bulkCell('w2-local', 'P0-local-cold', 20, { role: 'local' }) : c,
        ),
      ),
      'W2-sequential-shards',
    )
    expect(localWins.outcome.status).toBe('holds')
    expect(localWins.status).toBe('holds-for-other-reasons')
    expect(peersWin.outcome.status).toBe('fails')
    expect(peersWin.status).toBe('fails')
  })

  it('is inconclusive when a deciding cell is machine-bound, protocol-bound, or moved between K and 2K', () => {
    for (const fidelity of [
      { label: 'machine-bound' as const, reason: '0.6 of the links with the event loop 99% busy' },
      { label: 'protocol-bound' as const, reason: '0.7 of the links while the machine had room' },
    ]) {
      const cells = w1Cells(14.8, 15).map((c) => (c.role === 'network' ? { ...c, fidelity } : c))
      const v = workloadVerdict(results(cells), 'W1-random-samples')
      expect(v.status).toBe('inconclusive')
      expect(v.rule).toBe('R2')
      expect(v.reason).toContain(fidelity.label)
    }
    const moved = w1Cells(14.8, 15).map((c) =>
      c.role === 'near'
        ? {
            ...c,
            dilation: {
              factor: 4,
              rejected: [],
              check: { factor: 8, runs: c.runs.slice(0, 2), moved: 0.08 },
            },
          }
        : c,
    )
    const v = workloadVerdict(results(moved), 'W1-random-samples')
    expect(v.status).toBe('inconclusive')
    expect(v.reason).toContain('moved 8%')
  })

  it('a machine-bound supplementary cell does not change the status', () => {
    const base = w1Cells(14.8, 15)
    const withExtra = [
      ...base,
      w1('w1-origin', 'P3-origin', undefined, 0.3, { fidelity: { label: 'machine-bound', reason: 'x' } }),
    ]
    expect(workloadVerdict(results(withExtra), 'W1-random-samples').status).toBe(
      workloadVerdict(results(base), 'W1-random-samples').status,
    )
  })

  it('is inconclusive with a deciding cell missing, failed, or with a single run', () => {
    const noNear = w1Cells(14.8, 15).filter((c) => c.role !== 'near')
    expect(workloadVerdict(results(noNear), 'W1-random-samples').rule).toBe('R1')
    const failed = w1Cells(14.8, 15).map((c) =>
      c.role === 'near' ? { ...c, runs: [], error: 'stream reset' } : c,
    )
    const f = workloadVerdict(results(failed), 'W1-random-samples')
    expect(f.status).toBe('inconclusive')
    expect(f.reason).toContain('stream reset')
    const single = [
      w1('w1-local', 'P0-local-cold', 'local', 0.4, {}, 1),
      w1('w1-near', 'P2-residential-peers', 'near', 14.8, {}, 1),
      w1('w1-network', 'P2-residential-peers', 'network', 15, {}, 1),
    ]
    expect(workloadVerdict(results(single), 'W1-random-samples').status).toBe('inconclusive')
  })

  it('is inconclusive for every workload when calibration failed', () => {
    const vs = computeVerdicts(results([...w1Cells(1, 16), ...w2Cells(40, 120)], false))
    expect(vs.length).toBe(2)
    for (const v of vs) {
      expect(v.status).toBe('inconclusive')
      expect(v.rule).toBe('R0')
    }
  })

  it('compares peers with the origin by interval, and refuses an untrusted origin cell', () => {
    const slowerPeers = workloadVerdict(results(w2Cells(40, 120)), 'W2-sequential-shards')
    expect(slowerPeers.peersVsOrigin?.status).toBe('origin-faster')
    const fasterPeers = workloadVerdict(results(w2Cells(200, 120)), 'W2-sequential-shards')
    expect(fasterPeers.peersVsOrigin?.status).toBe('peers-faster')
    const untrusted = w2Cells(40, 120).map((c) =>
      c.role === 'origin'
        ? { ...c, fidelity: { label: 'machine-bound' as const, reason: 'CPU 1.9 of 2 cores' } }
        : c,
    )
    expect(workloadVerdict(results(untrusted), 'W2-sequential-shards').peersVsOrigin?.status).toBe(
      'inconclusive',
    )
  })

  it('names the best kind of source over another kind, never local cold over local warm', () => {
    const cells = [...w1Cells(14.8, 15), w1('w1-warm', 'P0-local-warm', undefined, 0.1)]
    const v = workloadVerdict(results(cells), 'W1-random-samples')
    expect(v.winner?.cell.role).toBe('local')
    expect(v.runnerUp?.cell.role).toBe('network')
  })

  it('reads intervals: equivalence inside the margin, superiority when 1 is excluded, else inconclusive', () => {
    const r = (low: number, high: number) =>
      ({
        ratio: (low + high) / 2,
        low,
        high,
        level: 0.95,
        method: 'bootstrap',
        numeratorRuns: 5,
        denominatorRuns: 5,
      }) as const
    expect(directionOf(r(0.95, 1.05))).toBe('equivalent')
    expect(directionOf(r(1.2, 1.5))).toBe('first-better')
    expect(directionOf(r(0.5, 0.8))).toBe('second-better')
    expect(directionOf(r(0.8, 1.3))).toBe('inconclusive')
    expect(directionOf({ ...r(1.2, 1.5), method: 'degenerate' })).toBe('inconclusive')
  })

  it('decomposes a run as a timeline whose shares add up to 100%, and a gap likewise', () => {
    const [local, , network] = w1Cells(14.8, 15) as [Cell, Cell, Cell]
    const d = decompose(network, cellStats(network))
    const sum = DECOMPOSITION_PARTS.reduce((s, p) => s + d.shares[p], 0)
    expect(sum).toBeCloseTo(1, 9)
    const gap = explainGap(d, decompose(local, cellStats(local)))!
    expect(DECOMPOSITION_PARTS.reduce((s, p) => s + gap.shareOfGap[p], 0)).toBeCloseTo(1, 9)
  })
})

describe('report', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  const fullCells = (): Cell[] => [
    ...w1Cells(14.8, 15),
    ...w2Cells(40, 100),
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
      '## Fidelity: what limited each cell',
      '## Latency decomposition',
      '## k-peer scaling',
      '## Peers vs origin',
      '## Demand at GPU scale',
      '## Cost',
      '## Verdict per workload',
      '## Machine and versions',
    ]) {
      expect(md).toContain(heading)
    }
    expect(md).toContain('4.9 us per km')
    expect(md).toContain('285 MB/s')
    expect(md).toContain('R2 a deciding cell not trusted')
    expect(md).toContain('link-bound')
    expect(md).toContain('60.0%') // bytes off the origin for the mixed cell

    const specs = chartSpecs(input)
    expect(specs.map((s) => s.file).sort()).toEqual(
      [
        'cost-per-gb.svg',
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
    const bad = { ...results([]), schemaVersion: RESULTS_SCHEMA_VERSION + 1 } as unknown as Results
    await expect(writeReport(bad, dir)).rejects.toThrow(/invalid results/)
    expect(existsSync(join(dir, 'report.md'))).toBe(false)
  })
})
