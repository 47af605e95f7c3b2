/**
 * The fidelity guard: for every run, what limited it. An emulated cell measures the network only
 * when the network is what limits it; on a 2-core machine a fast source can be held back by the
 * CPU instead (every node of a cell shares one event loop), and that must never pass for a
 * property of the link.
 *
 * Per run the guard records this process's event-loop utilisation and CPU time, how late the link
 * emulator handed bytes to the socket (its release lateness) and how much link time it let late
 * senders reclaim, and compares the run's time with what the configured links allow: a
 * chunk-granular earliest-finish schedule over the sources (each at min(rate, in flight x chunk /
 * RTT), first bytes one RTT after the start), and for a paced consumer its target. The label says
 * which bound the run met, or why it missed it (see FIDELITY_LABELS in types.ts).
 */
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { LatencyHistogram } from '../latency/histogram.ts'
import type { EmulatorProbe } from '../net/dilation.ts'
import type { SourcePath } from './scenarios.ts'
import type { FidelityLabel, RunFidelity } from './types.ts'

/** A run within this share of what the links allow is bound by them (framing costs a few %). */
export const FIDELITY_MIN_ACHIEVED = 0.9
/** Faster than the links allow by more than this share: the emulator let bytes through early. */
export const FIDELITY_MAX_ACHIEVED = 1.1
/** Event-loop utilisation at or above which this process counts as saturated. */
export const SATURATED_ELU = 0.9
/** CPU time / wall time at or above this share of the cores counts as saturated. */
export const SATURATED_CPU_SHARE = 0.9
/** Emulator release lateness (p99, undilated) above max(this, LATE_RTT_SHARE x RTT) is saturation. */
export const LATE_RELEASE_MS = 1
export const LATE_RTT_SHARE = 0.1

export type Bound = 'link' | 'window' | 'consumer'

export interface IdealTransfer {
  seconds: number
  bound: Bound
}

export interface IdealInput {
  paths: SourcePath[]
  /** Item sizes in the order the consumer takes them (one request each). */
  itemBytes: number[]
  inFlight: number
  /** The consumer's pace, bytes/s; undefined = as fast as items arrive. */
  targetBytesPerSec?: number
}

function schedule(paths: SourcePath[], itemBytes: number[], rates: number[]): number[] {
  const freeAt = paths.map((p) => p.rttMs / 1000)
  const arrivals: number[] = []
  for (const bytes of itemBytes) {
    let best = 0
    let bestFinish = Number.POSITIVE_INFINITY
    for (let i = 0; i < paths.length; i++) {
      const finish = (freeAt[i] as number) + bytes / (rates[i] as number)
      if (finish < bestFinish) {
        bestFinish = finish
        best = i
      }
    }
    freeAt[best] = bestFinish
    arrivals.push(bestFinish)
  }
  return arrivals
}

/** What the configured links (and the consumer's pace) allow for this transfer, undilated. */
export function idealTransfer(input: IdealInput): IdealTransfer {
  const { paths, itemBytes, inFlight } = input
  if (paths.length === 0 || itemBytes.length === 0) return { seconds: 0, bound: 'link' }
  const meanItem = itemBytes.reduce((s, b) => s + b, 0) / itemBytes.length
  const linkRates = paths.map((p) => p.rateBytesPerSec)
  const windowRates = paths.map((p) =>
    Math.min(p.rateBytesPerSec, (inFlight * meanItem) / Math.max(p.rttMs / 1000, 1e-6)),
  )
  const arrivals = schedule(paths, itemBytes, windowRates)
  const network = Math.max(...arrivals)
  const linkOnly = Math.max(...schedule(paths, itemBytes, linkRates))
  const networkBound: Bound = network > linkOnly * 1.02 ? 'window' : 'link'
  const target = input.targetBytesPerSec
  if (target === undefined) return { seconds: network, bound: networkBound }
  // the consumer takes items in order, each for bytes / target, never before it has arrived
  let t = 0
  let stalled = 0
  itemBytes.forEach((bytes, i) => {
    const arrived = arrivals[i] as number
    if (arrived > t) {
      if (i > 0) stalled += arrived - t
      t = arrived
    }
    t += bytes / target
  })
  // paced by the consumer when the ideal consumer hardly ever waits after its first item
  const bound: Bound = stalled <= 0.02 * t ? 'consumer' : networkBound
  return { seconds: t, bound }
}

/** One run's window of measurement: open it before the run, close it after. */
export interface FidelitySpan {
  end(): SpanFigures
}

export interface SpanFigures {
  wallSeconds: number
  eventLoopUtilisation: number
  cpuCores: number
  /** Busy cores of the whole machine over the span (every process). */
  machineCores: number
  /** Real (dilated) ms. */
  latenessP50Ms: number
  latenessP99Ms: number
  catchUpMs: number
}

/**
 * The emulator's probe for one process: every shaped connection reports its release lateness and
 * catch-up here. Runs are sequential, so one span at a time.
 */
export class FidelityMonitor implements EmulatorProbe {
  private lateness = new LatencyHistogram()
  private catchUp = 0

  onRelease(latenessMs: number): void {
    this.lateness.record(Math.max(latenessMs, 0.001))
  }

  onCatchUp(reclaimedMs: number): void {
    this.catchUp += reclaimedMs
  }

  begin(): FidelitySpan {
    this.lateness = new LatencyHistogram()
    this.catchUp = 0
    const elu = performance.eventLoopUtilization()
    const cpu = process.cpuUsage()
    const machine = machineCpuTimes()
    const started = performance.now()
    return {
      end: (): SpanFigures => {
        const wallSeconds = (performance.now() - started) / 1000
        const used = process.cpuUsage(cpu)
        const lateness = this.lateness
        return {
          wallSeconds,
          eventLoopUtilisation: performance.eventLoopUtilization(elu).utilization,
          cpuCores: wallSeconds > 0 ? (used.user + used.system) / 1e6 / wallSeconds : 0,
          machineCores: busyCores(machine, machineCpuTimes()),
          latenessP50Ms: lateness.count > 0 ? lateness.percentile(50) : 0,
          latenessP99Ms: lateness.count > 0 ? lateness.percentile(99) : 0,
          catchUpMs: this.catchUp,
        }
      },
    }
  }
}

/** Summed over every core: busy and total ms since boot (os.cpus(): every process on the machine). */
function machineCpuTimes(): { busyMs: number; totalMs: number } {
  let busyMs = 0
  let totalMs = 0
  for (const { times } of cpus()) {
    const total = times.user + times.nice + times.sys + times.idle + times.irq
    totalMs += total
    busyMs += total - times.idle
  }
  return { busyMs, totalMs }
}

/** Busy cores between two readings: the busy share of the elapsed core time, times the cores. */
function busyCores(
  from: { busyMs: number; totalMs: number },
  to: { busyMs: number; totalMs: number },
): number {
  const total = to.totalMs - from.totalMs
  return total > 0 ? ((to.busyMs - from.busyMs) / total) * cpus().length : 0
}

export interface ClassifyInput {
  figures: SpanFigures
  dilation: number
  cpus: number
  /** Undilated run time, s. */
  seconds: number
  /** Undilated; undefined for local storage. */
  ideal?: IdealTransfer
  /** Shortest configured RTT of the run's sources, undilated ms. */
  rttMs: number
}

const BOUND_LABEL: Record<Bound, FidelityLabel> = {
  link: 'link-bound',
  window: 'window-bound',
  consumer: 'consumer-paced',
}

/** Labels one run and converts the span's figures to undilated time. */
export function classifyRun(input: ClassifyInput): RunFidelity {
  const { figures, dilation: k, cpus, ideal } = input
  const base = {
    dilation: k,
    eventLoopUtilisation: Math.min(1, Math.max(0, figures.eventLoopUtilisation)),
    cpuCores: figures.cpuCores,
    latenessP50Ms: figures.latenessP50Ms / k,
    latenessP99Ms: figures.latenessP99Ms / k,
    catchUpMs: figures.catchUpMs / k,
  }
  if (ideal === undefined) {
    return { ...base, label: 'local', reason: 'local storage: measures this machine by definition' }
  }
  const achieved = input.seconds > 0 ? ideal.seconds / input.seconds : 0
  const withIdeal = { ...base, idealSeconds: ideal.seconds, achieved }
  const saturation = saturationOf(base, cpus, input.rttMs)
  if (achieved > FIDELITY_MAX_ACHIEVED) {
    return {
      ...withIdeal,
      label: 'machine-bound',
      reason: `${achieved.toFixed(2)}x faster than the configured links allow: the emulator let bytes through early`,
    }
  }
  if (achieved >= FIDELITY_MIN_ACHIEVED) {
    return {
      ...withIdeal,
      label: BOUND_LABEL[ideal.bound],
      reason: `${achieved.toFixed(2)} of what the ${ideal.bound === 'consumer' ? "consumer's target and the links" : ideal.bound === 'window' ? 'request window and the links' : 'configured links'} allow`,
    }
  }
  if (saturation.length > 0) {
    return {
      ...withIdeal,
      label: 'machine-bound',
      reason: `${achieved.toFixed(2)} of what the links allow, with ${saturation.join(', ')}`,
    }
  }
  return {
    ...withIdeal,
    label: 'protocol-bound',
    reason: `${achieved.toFixed(2)} of what the links allow while the machine had room (event loop ${pct(base.eventLoopUtilisation)}, CPU ${base.cpuCores.toFixed(2)} cores)`,
  }
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`

/** What saturated this machine during a run, in words (empty: it had room). */
function saturationOf(
  base: { eventLoopUtilisation: number; cpuCores: number; latenessP99Ms: number },
  cpus: number,
  rttMs: number,
): string[] {
  const saturation: string[] = []
  if (base.eventLoopUtilisation >= SATURATED_ELU)
    saturation.push(`event loop ${pct(base.eventLoopUtilisation)} busy`)
  if (base.cpuCores >= SATURATED_CPU_SHARE * cpus)
    saturation.push(`CPU ${base.cpuCores.toFixed(2)} of ${cpus} cores`)
  const lateLimit = Math.max(LATE_RELEASE_MS, LATE_RTT_SHARE * rttMs)
  if (base.latenessP99Ms > lateLimit)
    saturation.push(
      `emulator releases late by ${base.latenessP99Ms.toFixed(2)} ms at p99 (> ${lateLimit.toFixed(2)})`,
    )
  return saturation
}

/**
 * A live run's label. The providers' offers (their lent uplinks) stand for the configured links
 * when every source has one: at FIDELITY_MIN_ACHIEVED of what they allow the run is link-bound
 * (window-bound, consumer-paced) as in the lab. Below that, or with no offered rate to compare
 * with, it is machine-bound when this machine was saturated and otherwise network-bound: the real
 * network, the providers and the chunk path together, which a live run cannot tell apart.
 */
export function classifyLiveRun(input: Omit<ClassifyInput, 'dilation'>): RunFidelity {
  const { figures, cpus } = input
  const base = {
    dilation: 1,
    eventLoopUtilisation: Math.min(1, Math.max(0, figures.eventLoopUtilisation)),
    cpuCores: figures.cpuCores,
    machineCores: figures.machineCores,
    latenessP50Ms: 0,
    latenessP99Ms: 0,
    catchUpMs: 0,
  }
  const saturation = saturationOf(base, cpus, input.rttMs)
  // Daemons on this machine (and anything else) share its cores with the measuring node: when
  // they kept the machine busy, the figure is this machine's even if this process had room.
  if (base.cpuCores < SATURATED_CPU_SHARE * cpus && figures.machineCores >= SATURATED_CPU_SHARE * cpus)
    saturation.push(`the machine's CPU ${figures.machineCores.toFixed(2)} of ${cpus} cores (every process)`)
  const ideal = input.ideal
  const achieved = ideal !== undefined && input.seconds > 0 ? ideal.seconds / input.seconds : undefined
  const withIdeal =
    ideal === undefined || achieved === undefined ? base : { ...base, idealSeconds: ideal.seconds, achieved }
  if (ideal !== undefined && achieved !== undefined && achieved >= FIDELITY_MIN_ACHIEVED) {
    return {
      ...withIdeal,
      label: BOUND_LABEL[ideal.bound],
      reason: `${achieved.toFixed(2)} of what the providers' offered uplinks allow${achieved > FIDELITY_MAX_ACHIEVED ? ' (faster than offered: an offer is a cap the provider lends, not its link)' : ''}`,
    }
  }
  const against =
    achieved === undefined
      ? 'no offered rate to compare with'
      : `${achieved.toFixed(2)} of what the providers' offered uplinks allow`
  if (saturation.length > 0) {
    return { ...withIdeal, label: 'machine-bound', reason: `${against}, with ${saturation.join(', ')}` }
  }
  return {
    ...withIdeal,
    label: 'network-bound',
    reason: `${against}; this machine had room (event loop ${pct(base.eventLoopUtilisation)}, CPU ${base.cpuCores.toFixed(2)} cores, the machine ${base.machineCores.toFixed(2)} of ${cpus}): the real network and the providers set the pace`,
  }
}

/** The cell's label: the most common among its runs (ties: the less trustworthy one). */
export function cellLabel(
  runs: Array<{ fidelity?: RunFidelity }>,
): { label: FidelityLabel; reason: string } | undefined {
  const order: FidelityLabel[] = [
    'machine-bound',
    'protocol-bound',
    'window-bound',
    'consumer-paced',
    'network-bound',
    'link-bound',
    'local',
  ]
  const counts = new Map<FidelityLabel, number>()
  for (const r of runs)
    if (r.fidelity !== undefined) counts.set(r.fidelity.label, (counts.get(r.fidelity.label) ?? 0) + 1)
  let top: FidelityLabel | undefined
  for (const label of order) {
    if ((counts.get(label) ?? 0) > (top === undefined ? 0 : (counts.get(top) ?? 0))) top = label
  }
  if (top === undefined) return undefined
  const median = runs
    .map((r) => r.fidelity)
    .filter((f): f is RunFidelity => f?.label === top)
    .sort((a, b) => (a.achieved ?? 0) - (b.achieved ?? 0))
  const mid = median[Math.floor(median.length / 2)]
  return { label: top, reason: `${counts.get(top)}/${runs.length} runs: ${mid?.reason ?? ''}` }
}

/**
 * A cell whose result moved more than `stableShare` between dilation K and 2K is not decided by
 * the links, whatever its runs' labels say: the links' part scales exactly with K, so what moved
 * is something else. Every run at 2K beat every run at K: this machine still limited it at K
 * (machine-bound). Otherwise the runs overlap and vary more than the check allows (the chunk
 * path's scheduling, a transfer's tail): protocol-bound, with the spread of its runs. An untrusted
 * label, or a cell that held still, is returned unchanged.
 */
export function labelAfterDilationCheck(
  label: { label: FidelityLabel; reason: string } | undefined,
  check: { atK: number[]; at2K: number[]; factor: number; moved: number; better: 'lower' | 'higher' },
  stableShare: number,
): { label: FidelityLabel; reason: string } | undefined {
  if (label === undefined || check.moved <= stableShare || !TRUSTED_LABELS.includes(label.label)) return label
  const all = [...check.atK, ...check.at2K]
  const spread = `runs ${Math.min(...all).toPrecision(3)}-${Math.max(...all).toPrecision(3)}`
  const moved = `${(check.moved * 100).toFixed(1)}%`
  const beats = (v: number) =>
    check.better === 'lower' ? v < Math.min(...check.atK) : v > Math.max(...check.atK)
  if (check.at2K.length > 0 && check.at2K.every(beats))
    return {
      label: 'machine-bound',
      reason: `every run at K=${check.factor} beat every run at K=${check.factor / 2} (moved ${moved}, ${spread}): at K=${check.factor / 2} this machine still limited it; was ${label.label} (${label.reason})`,
    }
  return {
    label: 'protocol-bound',
    reason: `moved ${moved} between K=${check.factor / 2} and K=${check.factor} while the runs overlap (${spread}): their own spread, not the links; was ${label.label} (${label.reason})`,
  }
}

/** Labels whose figures are a property of the emulated network (or the consumer), not this machine. */
export const TRUSTED_LABELS: readonly FidelityLabel[] = [
  'link-bound',
  'consumer-paced',
  'window-bound',
  'local',
  // a live run's real network is what it measures
  'network-bound',
]

/**
 * A run labelled machine-bound at K whose result did not move from the one at K/2: twice the time
 * per emulated byte changed nothing, so this machine is not what limits it (other processes can
 * make the emulator's releases late at any K; at a higher K the same lateness costs K times less
 * link time). Relabelled protocol-bound, with both figures, so auto dilation stops doubling a
 * cell that more CPU time would not speed up. Returns undefined when the rule does not apply.
 */
export function unmovedByDilation(
  atK: RunFidelity,
  atHalfK: RunFidelity,
  stableShare: number,
): RunFidelity | undefined {
  if (atK.label !== 'machine-bound' || atHalfK.label !== 'machine-bound') return undefined
  const now = atK.achieved
  const before = atHalfK.achieved
  if (now === undefined || before === undefined || before <= 0) return undefined
  // faster than the links allow is an emulator fault, not a protocol limit
  if (now > FIDELITY_MAX_ACHIEVED) return undefined
  if (Math.abs(now - before) > stableShare * before) return undefined
  return {
    ...atK,
    label: 'protocol-bound',
    reason:
      `${now.toFixed(2)} of what the links allow at K=${atK.dilation} and ${before.toFixed(2)} at K=${atHalfK.dilation}: ` +
      `not this machine, though it was busy (${atK.reason})`,
  }
}
