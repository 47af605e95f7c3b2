import { describe, expect, it } from 'vitest'
import {
  cellLabel,
  classifyLiveRun,
  classifyRun,
  idealTransfer,
  labelAfterDilationCheck,
  type SpanFigures,
  unmovedByDilation,
} from '../../src/experiment/fidelity.ts'
import { placementPaths, steadyStateBytes } from '../../src/experiment/scenarios.ts'
import type { RunFidelity } from '../../src/experiment/types.ts'

const quiet: SpanFigures = {
  wallSeconds: 10,
  eventLoopUtilisation: 0.3,
  cpuCores: 0.5,
  machineCores: 0.6,
  latenessP50Ms: 0.05,
  latenessP99Ms: 0.4,
  catchUpMs: 0,
}
const MiB = 2 ** 20

describe('what the configured links allow', () => {
  it('is one round trip plus the bytes at the rate for one source', () => {
    const ideal = idealTransfer({
      paths: [{ rateBytesPerSec: 1e6, rttMs: 100 }],
      itemBytes: Array.from({ length: 10 }, () => 1e6),
      inFlight: 16,
    })
    expect(ideal.seconds).toBeCloseTo(0.1 + 10, 9)
    expect(ideal.bound).toBe('link')
  })

  it('spreads chunks over sources by earliest finish, at chunk granularity', () => {
    // 40 chunks over 16 equal peers: some take 3, so 3 chunk times, not 40/16 = 2.5
    const paths = Array.from({ length: 16 }, () => ({ rateBytesPerSec: 1e6, rttMs: 20 }))
    const ideal = idealTransfer({ paths, itemBytes: Array.from({ length: 40 }, () => 1e6), inFlight: 16 })
    expect(ideal.seconds).toBeCloseTo(0.02 + 3, 9)
  })

  it("is window-bound when in flight x chunk / RTT is below the rate (Little's law)", () => {
    const ideal = idealTransfer({
      paths: [{ rateBytesPerSec: 125e6, rttMs: 100 }],
      itemBytes: Array.from({ length: 100 }, () => MiB),
      inFlight: 1,
    })
    expect(ideal.bound).toBe('window')
    expect(ideal.seconds).toBeCloseTo(0.1 + 100 * 0.1, 6)
  })

  it('is consumer-paced when the target is below what the links deliver', () => {
    const ideal = idealTransfer({
      paths: [{ rateBytesPerSec: 100e6, rttMs: 10 }],
      itemBytes: Array.from({ length: 100 }, () => 100_000),
      inFlight: 16,
      targetBytesPerSec: 1e6,
    })
    expect(ideal.bound).toBe('consumer')
    expect(ideal.seconds).toBeCloseTo(10 + 0.011, 2)
    const starved = idealTransfer({
      paths: [{ rateBytesPerSec: 1e6, rttMs: 10 }],
      itemBytes: Array.from({ length: 100 }, () => 100_000),
      inFlight: 16,
      targetBytesPerSec: 100e6,
    })
    expect(starved.bound).toBe('link')
  })
})

describe('the fidelity label of a run', () => {
  const ideal = { seconds: 10, bound: 'link' as const }
  it('is link-bound at >= 0.9 of the ideal and converts figures to undilated time', () => {
    const f = classifyRun({
      figures: { ...quiet, latenessP99Ms: 4 },
      dilation: 4,
      cpus: 2,
      seconds: 10.5,
      ideal,
      rttMs: 20,
    })
    expect(f.label).toBe('link-bound')
    expect(f.achieved).toBeCloseTo(10 / 10.5, 9)
    expect(f.latenessP99Ms).toBe(1)
  })

  it('is machine-bound below the ideal while the event loop, CPU or emulator is saturated', () => {
    for (const figures of [
      { ...quiet, eventLoopUtilisation: 0.97 },
      { ...quiet, cpuCores: 1.9 },
      { ...quiet, latenessP99Ms: 30 },
    ]) {
      const f = classifyRun({ figures, dilation: 1, cpus: 2, seconds: 20, ideal, rttMs: 20 })
      expect(f.label).toBe('machine-bound')
    }
  })

  it('is protocol-bound below the ideal while the machine had room, and suspicious above it', () => {
    expect(classifyRun({ figures: quiet, dilation: 1, cpus: 2, seconds: 20, ideal, rttMs: 20 }).label).toBe(
      'protocol-bound',
    )
    const tooFast = classifyRun({ figures: quiet, dilation: 1, cpus: 2, seconds: 5, ideal, rttMs: 20 })
    expect(tooFast.label).toBe('machine-bound')
    expect(tooFast.reason).toContain('faster than the configured links allow')
  })

  it('labels local storage as local, and a cell by its most common run label', () => {
    expect(classifyRun({ figures: quiet, dilation: 1, cpus: 2, seconds: 1, rttMs: 0 }).label).toBe('local')
    const run = (seconds: number) => ({
      fidelity: classifyRun({ figures: quiet, dilation: 1, cpus: 2, seconds, ideal, rttMs: 20 }),
    })
    expect(cellLabel([run(10.2), run(10.4), run(20)])?.label).toBe('link-bound')
    expect(cellLabel([run(20), run(10.4), run(20)])?.label).toBe('protocol-bound')
  })
})

describe('steady-state sizes', () => {
  it('reads 20 bandwidth-delay products of a long fat link, at least 64 MiB on short ones', () => {
    const origin = placementPaths('P3-origin')
    expect(steadyStateBytes(origin, 16, MiB)).toBeGreaterThan(20 * 125e6 * 0.098)
    expect(steadyStateBytes(placementPaths('P1-datacentre-peer'), 16, MiB)).toBe(64 * MiB)
    // one request in flight caps the origin at 1 MiB per round trip: 20 of those
    expect(steadyStateBytes(origin, 1, MiB)).toBe(64 * MiB)
  })
})

describe('auto dilation stops when doubling K moves nothing', () => {
  const run = (
    dilation: number,
    achieved: number,
    label: RunFidelity['label'] = 'machine-bound',
  ): RunFidelity => ({
    label,
    dilation,
    eventLoopUtilisation: 0.5,
    cpuCores: 1,
    latenessP50Ms: 1,
    latenessP99Ms: 7,
    catchUpMs: 0,
    idealSeconds: 10,
    achieved,
    reason: 'emulator releases late by 7.00 ms at p99 (> 2.00)',
  })

  it('relabels a machine-bound run protocol-bound when K/2 gave the same result', () => {
    const relabelled = unmovedByDilation(run(8, 0.79), run(4, 0.77), 0.05)
    expect(relabelled?.label).toBe('protocol-bound')
    expect(relabelled?.reason).toMatch(/0\.79 .* K=8 and 0\.77 at K=4: not this machine/)
  })

  it('keeps machine-bound when doubling K helped, or when the first was not machine-bound', () => {
    expect(unmovedByDilation(run(8, 0.88), run(4, 0.7), 0.05)).toBeUndefined()
    expect(unmovedByDilation(run(8, 0.79), run(4, 0.79, 'protocol-bound'), 0.05)).toBeUndefined()
    // faster than the links allow is an emulator fault at any K
    expect(unmovedByDilation(run(8, 1.2), run(4, 1.2), 0.05)).toBeUndefined()
  })
})

describe('a cell whose result moved between dilation K and 2K', () => {
  const linkBound = {
    label: 'link-bound' as const,
    reason: '3/3 runs: 0.93 of what the configured links allow',
  }
  // W4's time to stage at 16 peers, s: bimodal runs (a staging whose chunks ended unevenly spread)
  const overlapping = { atK: [1.81, 1.47, 1.47], at2K: [1.46, 1.81], factor: 32, better: 'lower' as const }

  it('keeps its label when it held still', () => {
    expect(labelAfterDilationCheck(linkBound, { ...overlapping, moved: 0.02 }, 0.05)).toEqual(linkBound)
  })

  it('is no longer link-bound when it moved and the runs overlap: protocol-bound, with their spread', () => {
    const label = labelAfterDilationCheck(linkBound, { ...overlapping, moved: 0.109 }, 0.05)
    expect(label?.label).toBe('protocol-bound')
    expect(label?.reason).toMatch(
      /moved 10\.9% between K=16 and K=32 while the runs overlap \(runs 1\.46-1\.81\)/,
    )
    expect(label?.reason).toContain('was link-bound')
  })

  it('is machine-bound when every run at 2K beat every run at K', () => {
    const check = {
      atK: [2.0, 2.1, 2.05],
      at2K: [1.5, 1.55],
      factor: 16,
      better: 'lower' as const,
      moved: 0.26,
    }
    expect(labelAfterDilationCheck(linkBound, check, 0.05)?.label).toBe('machine-bound')
    // throughput: higher is better
    const rate = { atK: [40, 41, 42], at2K: [48, 49], factor: 16, better: 'higher' as const, moved: 0.17 }
    expect(labelAfterDilationCheck(linkBound, rate, 0.05)?.label).toBe('machine-bound')
  })

  it('leaves labels that are already untrusted alone', () => {
    const machine = { label: 'machine-bound' as const, reason: 'CPU 1.9 of 2 cores' }
    expect(labelAfterDilationCheck(machine, { ...overlapping, moved: 0.2 }, 0.05)).toEqual(machine)
  })
})

describe('a live run on a shared machine', () => {
  const slow = { seconds: 20, rttMs: 20, cpus: 2, ideal: { seconds: 10, bound: 'link' as const } }

  it('is network-bound below the offers while the whole machine had room', () => {
    const f = classifyLiveRun({ ...slow, figures: quiet })
    expect(f.label).toBe('network-bound')
    expect(f.machineCores).toBe(0.6)
  })

  it('is machine-bound when other processes (the daemons beside it) kept every core busy', () => {
    // this process had room, the machine did not
    const f = classifyLiveRun({ ...slow, figures: { ...quiet, machineCores: 1.9 } })
    expect(f.label).toBe('machine-bound')
    expect(f.reason).toMatch(/the machine's CPU 1\.90 of 2 cores/)
  })
})
