/**
 * Latency decomposition of a cell: where the time of its median run went. The claim blames
 * distance; at 1-100 km propagation is well under a millisecond per round trip, so the report has
 * to show each part's share, not only the total.
 *
 * A timeline that adds up to the median run time T (ms), each part marked measured or modelled:
 * - propagation (modelled): one round trip of fibre, 2 x distance x route inflation x 4.9 us/km,
 *   within the measured time to first byte;
 * - access (modelled): one round trip of last mile, 2 x both access latencies, within it too;
 * - startup (measured): the rest of the time to first byte: protocol, queueing and CPU before the
 *   first byte (median TTFB minus the unloaded round trip, floored at 0);
 * - transfer (modelled): the bytes at the binding rate, bytes / min(configured rate of all serving
 *   links, the consumer's target), capped at what is left of T after the first byte;
 * - other (measured): what is left: the run was slower than the links and its start-up explain
 *   (further round trips of a small request window, stalls, the machine).
 * For local storage the links add nothing: its time is startup (to the first byte) and other.
 * Gap between two cells: each part's difference over the difference in T, so the shares of a gap
 * add up to 100% too (a part can be negative: the faster cell spent more on it).
 */
import type { CellStats } from './stats.ts'
import type { Cell } from './types.ts'

/** Light in fibre travels at ~c/1.47: ~4.9 microseconds per km, one way. */
export const FIBRE_PROPAGATION_US_PER_KM = 4.9
/** Fibre path over straight-line distance; real routes are ~1.3x to ~2.1x. */
export const DEFAULT_ROUTE_INFLATION = 1.5

export const DECOMPOSITION_PARTS = ['propagation', 'access', 'startup', 'transfer', 'other'] as const
/** How each part is known: from the configured links (modelled) or from the runs (measured). */
export const PART_SOURCE: Record<(typeof DECOMPOSITION_PARTS)[number], 'modelled' | 'measured'> = {
  propagation: 'modelled',
  access: 'modelled',
  startup: 'measured',
  transfer: 'modelled',
  other: 'measured',
}
export type DecompositionPart = (typeof DECOMPOSITION_PARTS)[number]
export type PartValues = Record<DecompositionPart, number>

export interface Decomposition {
  cellId: string
  /** Unloaded round-trip time and its two parts, ms. */
  rttMs: { propagation: number; access: number; unloaded: number }
  /** Median measured time to first byte, ms. */
  ttfbMs: number
  /** Median measured run time, ms: what the parts add up to. */
  measuredMs: number
  partsMs: PartValues
  totalMs: number
  shares: PartValues
}

export interface DecomposeOptions {
  routeInflation?: number
}

function zeroParts(): PartValues {
  return { propagation: 0, access: 0, startup: 0, transfer: 0, other: 0 }
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
  const local = cell.model.rateMbps === 0 && cell.model.oneWayDelayMs.accessMs === 0
  const propagationRtt = local
    ? 0
    : cell.distanceKm !== undefined
      ? 2 * propagationOneWayMs(cell.distanceKm, inflation)
      : 2 * cell.model.oneWayDelayMs.propagationMs
  const accessRtt = local ? 0 : 2 * cell.model.oneWayDelayMs.accessMs
  const unloadedRtt = propagationRtt + accessRtt
  const measuredMs = (stats.seconds?.median ?? 0) * 1000
  const ttfbMs = Math.min(stats.ttfbMs?.median ?? 0, measuredMs)
  const bytes = stats.runs > 0 ? medianBytes(cell) : 0

  const parts = zeroParts()
  // the first byte: the round trip (as far as it fits) and what start-up added to it
  parts.propagation = Math.min(propagationRtt, ttfbMs)
  parts.access = Math.min(accessRtt, ttfbMs - parts.propagation)
  parts.startup = ttfbMs - parts.propagation - parts.access
  // after it: the bytes at the binding rate, and what is left
  const links = cell.model.rateMbps * (cell.k ?? 1)
  const targetMbps = cell.targetRateMBps !== undefined ? cell.targetRateMBps * 8 : 0
  const binding = links > 0 && targetMbps > 0 ? Math.min(links, targetMbps) : Math.max(links, targetMbps)
  const afterFirstByte = measuredMs - ttfbMs
  parts.transfer = Math.min(afterFirstByte, serialisationMs(bytes, binding))
  parts.other = afterFirstByte - parts.transfer

  const shares = zeroParts()
  if (measuredMs > 0) for (const p of DECOMPOSITION_PARTS) shares[p] = parts[p] / measuredMs
  return {
    cellId: cell.id,
    rttMs: { propagation: propagationRtt, access: accessRtt, unloaded: unloadedRtt },
    ttfbMs,
    measuredMs,
    partsMs: parts,
    totalMs: measuredMs,
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
  /** Each part's growth from the fast cell to the slow cell over the gap; the shares add up to 1. */
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
  for (const p of DECOMPOSITION_PARTS) shareOfGap[p] = (slow.partsMs[p] - fast.partsMs[p]) / gapMs
  return { gapMs, shareOfGap }
}

/** routeInflation from the run's knobs when it is a sensible number, else the default. */
export function routeInflationFromKnobs(knobs: Record<string, unknown>): number {
  const v = knobs['routeInflation']
  return typeof v === 'number' && v >= 1 ? v : DEFAULT_ROUTE_INFLATION
}
