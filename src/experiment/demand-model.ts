/**
 * How many home peers a consumer needs: a model of a swarm's delivery fitted to the measured
 * k-peer cells, then composed with the measured cost of load and the published session lengths of
 * home peers (churn). Pure functions; report-demand.ts lays the numbers out.
 *
 * Delivery: k peers with uplink R each move S bytes in T(k) = t0 + S / (k * R * eta), where t0 is
 * the start-up a run pays once (first request, first chunk: a round trip or two) and eta the share
 * of the uplinks the protocol turns into delivered bytes. Both come from a least-squares line of T
 * against S / (k * R) (slope 1 / eta, intercept t0).
 */
import { linearRegression, poissonDistribution } from 'simple-statistics'

export interface SwarmPoint {
  k: number
  bytes: number
  /** Each peer's uplink, bytes/s. */
  uplinkBytesPerSec: number
  /** Measured run time, s (the median of the cell's runs). */
  seconds: number
}

export interface SwarmModel {
  /** Share of the peers' uplinks delivered in steady state. */
  efficiency: number
  /** Start-up paid once per run, s. */
  startupSeconds: number
}

export interface ModelCheck {
  point: SwarmPoint
  measuredBytesPerSec: number
  modelBytesPerSec: number
  /** (model - measured) / measured. */
  error: number
}

export function modelSeconds(model: SwarmModel, k: number, bytes: number, uplinkBytesPerSec: number): number {
  return model.startupSeconds + bytes / (k * uplinkBytesPerSec * model.efficiency)
}

/** Least-squares fit over two or more points with different S / (k R). */
export function fitSwarmModel(points: readonly SwarmPoint[]): SwarmModel {
  const xs = points.map((p) => p.bytes / (p.k * p.uplinkBytesPerSec))
  if (points.length < 2 || Math.max(...xs) - Math.min(...xs) <= 0) {
    throw new Error('fitting the swarm model needs two or more cells with different k (or sizes)')
  }
  const { m, b } = linearRegression(points.map((p, i) => [xs[i]!, p.seconds]))
  if (!(m > 0)) throw new Error(`the measured run times do not fall with k (slope ${m})`)
  return { efficiency: 1 / m, startupSeconds: b }
}

export function checkModel(model: SwarmModel, points: readonly SwarmPoint[]): ModelCheck[] {
  return points.map((point) => {
    const measuredBytesPerSec = point.bytes / point.seconds
    const modelBytesPerSec = point.bytes / modelSeconds(model, point.k, point.bytes, point.uplinkBytesPerSec)
    return {
      point,
      measuredBytesPerSec,
      modelBytesPerSec,
      error: (modelBytesPerSec - measuredBytesPerSec) / measuredBytesPerSec,
    }
  })
}

export function worstError(checks: readonly ModelCheck[]): number {
  return Math.max(...checks.map((c) => Math.abs(c.error)))
}

export interface DemandInputs {
  /** What the consumer reads, bytes/s. */
  demandBytesPerSec: number
  /** One peer's delivered rate in steady state, bytes/s (R * eta, times the load factor). */
  perPeerBytesPerSec: number
  /** Mean session of a home peer, s. */
  meanSessionSeconds: number
  /** Time from a peer leaving until another serves in its place, s. */
  replacementSeconds: number
  /** Data the consumer holds ahead of its reading point, bytes: a shortfall shorter than it drains it, no stall. */
  bufferBytes?: number
}

export interface DemandAnswer {
  peers: number
  spares: number
  /** Expected peers missing at any moment (departed, not yet replaced): peers * replacement / mean session. */
  missingMean: number
  /** Expected share of time the consumer waits for data. */
  stallFraction: number
}

/** Peers needed with no one missing: the smallest n with n * per-peer rate >= demand. */
export function peersForRate(demandBytesPerSec: number, perPeerBytesPerSec: number): number {
  if (!(perPeerBytesPerSec > 0)) throw new Error('a peer must deliver more than 0 bytes/s')
  return Math.max(1, Math.ceil(demandBytesPerSec / perPeerBytesPerSec - 1e-9))
}

/**
 * Expected stall fraction of a swarm of `peers`: each peer leaves at rate 1 / mean session and is
 * replaced after `replacementSeconds`, so the number missing at a moment is Poisson with mean
 * peers * replacement / mean session. With m missing the consumer gets (peers - m) * per-peer and
 * waits for the rest of its demand; a buffer of B bytes rides out a shortfall that lasts less than
 * B / shortfall, so only the remainder of each replacement window counts as waiting.
 */
export function stallFraction(inputs: DemandInputs, peers: number): { missingMean: number; stall: number } {
  const missingMean = (peers * inputs.replacementSeconds) / inputs.meanSessionSeconds
  const probabilities = (missingMean > 0 ? poissonDistribution(missingMean) : undefined) ?? [1]
  let stall = 0
  for (let missing = 0; missing < probabilities.length; missing++) {
    const supply = Math.max(0, peers - missing) * inputs.perPeerBytesPerSec
    const shortfall = inputs.demandBytesPerSec - supply
    if (shortfall <= 0) continue
    const waiting = 1 - supply / inputs.demandBytesPerSec
    const ridden = Math.min(
      1,
      (inputs.bufferBytes ?? 0) / shortfall / Math.max(inputs.replacementSeconds, 1e-9),
    )
    stall += probabilities[missing]! * waiting * (missing === 0 ? 1 : 1 - ridden)
  }
  return { missingMean, stall }
}

/** The smallest swarm (and its spares over peersForRate) whose expected stall is at most `target`. */
export function peersForDemand(inputs: DemandInputs, targetStall: number, maxSpares = 64): DemandAnswer {
  const base = peersForRate(inputs.demandBytesPerSec, inputs.perPeerBytesPerSec)
  for (let spares = 0; spares <= maxSpares; spares++) {
    const { missingMean, stall } = stallFraction(inputs, base + spares)
    if (stall <= targetStall) return { peers: base + spares, spares, missingMean, stallFraction: stall }
  }
  const { missingMean, stall } = stallFraction(inputs, base + maxSpares)
  return { peers: base + maxSpares, spares: maxSpares, missingMean, stallFraction: stall }
}

/**
 * A process's CPU as a fixed cost per second (timers, pings, the emulator's clock) plus a cost per
 * byte moved: cpuSeconds = perSecond * wallSeconds + perByte * bytes, least squares through the origin
 * over the runs (two unknowns, the normal equations solved directly).
 */
export function fitCpuModel(runs: readonly { cpuSeconds: number; wallSeconds: number; bytes: number }[]): {
  coresAtRest: number
  cpuSecondsPerGB: number
} {
  let sww = 0
  let swb = 0
  let sbb = 0
  let swc = 0
  let sbc = 0
  for (const r of runs) {
    const b = r.bytes / 1e9
    sww += r.wallSeconds * r.wallSeconds
    swb += r.wallSeconds * b
    sbb += b * b
    swc += r.wallSeconds * r.cpuSeconds
    sbc += b * r.cpuSeconds
  }
  const det = sww * sbb - swb * swb
  if (runs.length < 2 || Math.abs(det) < 1e-12)
    throw new Error('fitting CPU needs runs of different lengths and sizes')
  return { coresAtRest: (swc * sbb - sbc * swb) / det, cpuSecondsPerGB: (sww * sbc - swb * swc) / det }
}
