/**
 * Latency decomposition of a cell: where the time of a median run went. The claim blames distance; at
 * 1-100 km propagation is well under a millisecond per round trip, so the report has to show each
 * part's share, not only the total.
 *
 * Model (per median run, milliseconds):
 * - round trips: the protocol needs `requests = ceil(bytes / chunkSize)` requests and keeps `inFlight`
 *   of them outstanding, so it waits for `rounds = ceil(requests / inFlight)` round trips in sequence;
 * - propagation = rounds x 2 x distance x routeInflation x 4.9 us/km (fibre, one way, both directions).
 *   Without a distance (e.g. an origin configured by RTT) the model's own propagation delay is used;
 * - access = rounds x 2 x model access delay (last mile, both ends summed one way, counted each way);
 * - queueing = rounds x per-request queueing: the emulator's measured queueingMs when present, else the
 *   merged p50 chunk latency minus the unloaded expectation (RTT + one chunk serialised at the link
 *   rate), floored at 0;
 * - protocol = rounds x measured per-request protocol overhead (0 when the client did not measure it);
 * - transfer = bytes serialised at the modelled rate of all serving links (k links for k peers): the
 *   uplink cap. 0 when the link is not rate limited (local storage);
 * - other = the part of the measured run time no modelled part explains, floored at 0.
 * Pipelining overlaps transfer with round trips, so the parts can sum to more than the run time; the
 * total used for shares is the sum of the parts, which makes the shares an attribution, not a timeline.
 */
import type { CellStats } from './stats.ts'
import type { Cell } from './types.ts'

/** Light in fibre travels at ~c/1.47: ~4.9 microseconds per km, one way. */
export const FIBRE_PROPAGATION_US_PER_KM = 4.9
/** Fibre path over straight-line distance; real routes are ~1.3x to ~2.1x. */
export const DEFAULT_ROUTE_INFLATION = 1.5

export const DECOMPOSITION_PARTS = [
  'propagation',
  'access',
  'queueing',
  'protocol',
  'transfer',
  'other',
] as const
export type DecompositionPart = (typeof DECOMPOSITION_PARTS)[number]
export type PartValues = Record<DecompositionPart, number>

export interface Decomposition {
  cellId: string
  /** Unloaded round-trip time and its two parts, ms. */
  rttMs: { propagation: number; access: number; unloaded: number }
  requests: number
  /** Sequential protocol round trips per run: requests needed / in flight. */
  protocolRoundTrips: number
  /** protocolRoundTrips x unloaded RTT: time spent waiting on round trips alone. */
  roundTripWaitMs: number
  queueingSource: 'measured' | 'inferred-from-p50' | 'unknown'
  /** Median measured run time, ms. */
  measuredMs: number
  partsMs: PartValues
  totalMs: number
  shares: PartValues
}

export interface DecomposeOptions {
  routeInflation?: number
}

function zeroParts(): PartValues {
  return { propagation: 0, access: 0, queueing: 0, protocol: 0, transfer: 0, other: 0 }
}

/** One-way propagation delay for a straight-line distance, ms. */
export function propagationOneWayMs(distanceKm: number, routeInflation = DEFAULT_ROUTE_INFLATION): number {
  return (distanceKm * routeInflation * FIBRE_PROPAGATION_US_PER_KM) / 1000
}

/** Time to serialise `bytes` at `rateMbps` (megabits per second), ms; 0 when not rate limited. */
export function serialisationMs(bytes: number, rateMbps: number): number {
  return rateMbps > 0 ? (bytes * 8) / (rateMbps * 1000) : 0
}

export function decompose(cell: Cell, stats: CellStats, options: DecomposeOptions = {}): Decomposition {
  const inflation = options.routeInflation ?? DEFAULT_ROUTE_INFLATION
  const propagationRtt =
    cell.distanceKm !== undefined
      ? 2 * propagationOneWayMs(cell.distanceKm, inflation)
      : 2 * cell.model.oneWayDelayMs.propagationMs
  const accessRtt = 2 * cell.model.oneWayDelayMs.accessMs
  const unloadedRtt = propagationRtt + accessRtt

  const bytes = stats.runs > 0 ? medianBytes(cell) : 0
  const requests = Math.ceil(bytes / cell.chunkSizeBytes)
  const rounds = Math.ceil(requests / cell.inFlight)

  let queueingSource: Decomposition['queueingSource'] = 'unknown'
  let queueingPerRequest = 0
  if (stats.queueingMs !== undefined) {
    queueingSource = 'measured'
    queueingPerRequest = stats.queueingMs.median
  } else if (stats.latency !== undefined) {
    queueingSource = 'inferred-from-p50'
    const expected = unloadedRtt + serialisationMs(cell.chunkSizeBytes, cell.model.rateMbps)
    queueingPerRequest = Math.max(0, stats.latency.p50Ms - expected)
  }

  const links = cell.k ?? 1
  const parts = zeroParts()
  parts.propagation = rounds * propagationRtt
  parts.access = rounds * accessRtt
  parts.queueing = rounds * queueingPerRequest
  parts.protocol = rounds * (stats.protocolMs?.median ?? 0)
  parts.transfer = serialisationMs(bytes, cell.model.rateMbps * links)
  const measuredMs = (stats.seconds?.median ?? 0) * 1000
  const modelled = parts.propagation + parts.access + parts.queueing + parts.protocol + parts.transfer
  parts.other = Math.max(0, measuredMs - modelled)

  const totalMs = modelled + parts.other
  const shares = zeroParts()
  if (totalMs > 0) for (const p of DECOMPOSITION_PARTS) shares[p] = parts[p] / totalMs

  return {
    cellId: cell.id,
    rttMs: { propagation: propagationRtt, access: accessRtt, unloaded: unloadedRtt },
    requests,
    protocolRoundTrips: rounds,
    roundTripWaitMs: rounds * unloadedRtt,
    queueingSource,
    measuredMs,
    partsMs: parts,
    totalMs,
    shares,
  }
}

function medianBytes(cell: Cell): number {
  const sorted = cell.runs.map((r) => r.bytes).sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export interface GapExplanation {
  /** Measured median run time of the slower cell minus the faster one, ms (> 0). */
  gapMs: number
  /** Each part's growth from the fast cell to the slow cell, as a share of the gap (clamped to 0..1). */
  shareOfGap: PartValues
}

/**
 * How much of the time gap between a slow cell (e.g. peers) and a fast one (e.g. local storage) each
 * part explains. Undefined when the "slow" cell is not slower.
 */
export function explainGap(slow: Decomposition, fast: Decomposition): GapExplanation | undefined {
  const gapMs = slow.measuredMs - fast.measuredMs
  if (!(gapMs > 0)) return undefined
  const shareOfGap = zeroParts()
  for (const p of DECOMPOSITION_PARTS) {
    shareOfGap[p] = Math.min(1, Math.max(0, (slow.partsMs[p] - fast.partsMs[p]) / gapMs))
  }
  return { gapMs, shareOfGap }
}

/** routeInflation from the run's knobs when it is a sensible number, else the default. */
export function routeInflationFromKnobs(knobs: Record<string, unknown>): number {
  const v = knobs['routeInflation']
  return typeof v === 'number' && v >= 1 ? v : DEFAULT_ROUTE_INFLATION
}
