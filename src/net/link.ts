import { ConfigError } from '../errors/index.ts'
import { DEFAULT_ROUTE_INFLATION, FIBRE_US_PER_KM } from './constants.ts'

/** A point on the lab's map, in km. */
export interface LinkPosition {
  x: number
  y: number
}

interface LinkProperties {
  /** Last-mile latency added once at this end of every path, one way, in ms. */
  accessLatencyMs: number
  /** Rate this node can send at, Mbit/s; Infinity, or null in JSON configs, for unlimited. */
  uplinkMbps: number | null
  /** Rate this node can receive at, Mbit/s; Infinity, or null in JSON configs, for unlimited. */
  downlinkMbps: number | null
  /** Fibre path length over straight-line distance (>= 1); defaults to DEFAULT_ROUTE_INFLATION. */
  routeInflation?: number
}

/**
 * One node's network attachment. Place it either by `position` on a 2-D map (km) or by
 * `distanceKm` from a shared reference point, which is read as position {x: distanceKm, y: 0}:
 * nodes placed that way sit on one ray from the reference, so a node at the reference is
 * `distanceKm` away from each of them.
 */
export type NodeLink = LinkProperties &
  ({ position: LinkPosition; distanceKm?: undefined } | { distanceKm: number; position?: undefined })

/** A link reduced to plain numbers (what the preamble carries). */
export interface ResolvedLink {
  accessLatencyMs: number
  uplinkMbps: number
  downlinkMbps: number
  position: LinkPosition
  routeInflation: number
}

/** The emulated path from one node to another, one direction. */
export interface PathCharacteristics {
  oneWayDelayMs: number
  /** Mbit/s; Infinity when neither end limits it. */
  rateMbps: number
  distanceKm: number
  parts: {
    /** Distance x route inflation x fibre delay. */
    propagationMs: number
    /** Both ends' access latencies. */
    accessMs: number
  }
}

/** A link that adds nothing: no latency, no rate limit, at the origin. */
export const ZERO_LINK: ResolvedLink = Object.freeze({
  accessLatencyMs: 0,
  uplinkMbps: Number.POSITIVE_INFINITY,
  downlinkMbps: Number.POSITIVE_INFINITY,
  position: Object.freeze({ x: 0, y: 0 }),
  routeInflation: 1,
})

function check(ok: boolean, message: string): void {
  if (!ok) throw new ConfigError(`link: ${message}`)
}

/** JSON has no Infinity, so a config says null for an unlimited rate. */
function rateOf(value: number | null): number {
  return value === null ? Number.POSITIVE_INFINITY : value
}

function isRate(value: number): boolean {
  return value > 0 && !Number.isNaN(value)
}

/** Validate a link and fill defaults. Throws ConfigError on anything unusable. */
export function resolveLink(link: NodeLink | ResolvedLink): ResolvedLink {
  check(
    Number.isFinite(link.accessLatencyMs) && link.accessLatencyMs >= 0,
    'accessLatencyMs must be a finite number >= 0',
  )
  const uplinkMbps = rateOf(link.uplinkMbps)
  const downlinkMbps = rateOf(link.downlinkMbps)
  check(isRate(uplinkMbps), 'uplinkMbps must be > 0 (Infinity or null for unlimited)')
  check(isRate(downlinkMbps), 'downlinkMbps must be > 0 (Infinity or null for unlimited)')
  const routeInflation = link.routeInflation ?? DEFAULT_ROUTE_INFLATION
  check(Number.isFinite(routeInflation) && routeInflation >= 1, 'routeInflation must be a finite number >= 1')
  let position: LinkPosition
  if (link.position != null) {
    position = { x: link.position.x, y: link.position.y }
  } else {
    const distanceKm = (link as { distanceKm?: number }).distanceKm
    check(distanceKm != null, 'give either position {x, y} or distanceKm')
    position = { x: distanceKm as number, y: 0 }
  }
  check(Number.isFinite(position.x) && Number.isFinite(position.y), 'position must be finite km')
  return {
    accessLatencyMs: link.accessLatencyMs,
    uplinkMbps,
    downlinkMbps,
    position,
    routeInflation,
  }
}

/**
 * The path from `a` to `b`: one-way delay = straight-line distance x route inflation x fibre
 * delay + both access latencies; rate = min(a's uplink, b's downlink). Route inflation is the
 * mean of the two ends' factors so the delay is the same in both directions.
 */
export function linkBetween(a: NodeLink | ResolvedLink, b: NodeLink | ResolvedLink): PathCharacteristics {
  const from = resolveLink(a)
  const to = resolveLink(b)
  const distanceKm = Math.hypot(from.position.x - to.position.x, from.position.y - to.position.y)
  const routeInflation = (from.routeInflation + to.routeInflation) / 2
  const propagationMs = (distanceKm * routeInflation * FIBRE_US_PER_KM) / 1000
  const accessMs = from.accessLatencyMs + to.accessLatencyMs
  return {
    oneWayDelayMs: propagationMs + accessMs,
    rateMbps: Math.min(from.uplinkMbps, to.downlinkMbps),
    distanceKm,
    parts: { propagationMs, accessMs },
  }
}

/** True when a path adds neither delay nor a rate limit, so the stream can pass through untouched. */
export function isTransparentPath(path: PathCharacteristics): boolean {
  return path.oneWayDelayMs === 0 && path.rateMbps === Number.POSITIVE_INFINITY
}
