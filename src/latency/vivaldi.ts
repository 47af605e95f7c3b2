import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import type { RandomSource } from '../util/random.ts'
import {
  DEFAULT_VIVALDI_CC,
  DEFAULT_VIVALDI_CE,
  DEFAULT_VIVALDI_INITIAL_ERROR,
  DEFAULT_VIVALDI_MIN_HEIGHT_MS,
} from './constants.ts'

/**
 * Vivaldi network coordinates (Dabek, Cox, Kaashoek, Morris; SIGCOMM 2004):
 * a 2-D position plus a height, all in milliseconds. The plane models the
 * core of the network, where latency grows with distance; the height models
 * the access link every packet crosses at both ends. So
 *
 *   rtt(a, b) ~ |a.xy - b.xy| + a.height + b.height
 *
 * Each RTT sample moves the local coordinate along the spring between the two
 * nodes, with the "adaptive timestep" of the paper: the step is scaled by how
 * sure we are relative to the remote (w = e_local / (e_local + e_remote)), and
 * the error estimate itself is a moving average of the relative prediction error.
 */

/** A coordinate as it travels in offers and sits in LevelDB. Units: ms; error is relative (0 = exact). */
export interface VivaldiCoordinate {
  x: number
  y: number
  height: number
  error: number
}

export interface VivaldiOptions {
  /** Tuning constant for the step size (cc). */
  cc?: number
  /** Tuning constant for the error moving average (ce). */
  ce?: number
  /** Used only to pick a direction when two nodes sit on the same point. */
  random?: RandomSource
  minHeightMs?: number
  /** Upper bound of the error estimate (and the error of a fresh coordinate). */
  maxError?: number
}

/** Below this plane distance (ms) two points count as the same place. */
const SAME_PLACE_MS = 1e-9

/** A fresh coordinate: at the origin, minimal height, maximal error. */
export function originCoordinate(options: VivaldiOptions = {}): VivaldiCoordinate {
  return {
    x: 0,
    y: 0,
    height: options.minHeightMs ?? DEFAULT_VIVALDI_MIN_HEIGHT_MS,
    error: options.maxError ?? DEFAULT_VIVALDI_INITIAL_ERROR,
  }
}

/** The RTT (ms) the two coordinates predict. */
export function estimateRtt(a: VivaldiCoordinate, b: VivaldiCoordinate): number {
  return Math.hypot(a.x - b.x, a.y - b.y) + a.height + b.height
}

/**
 * One Vivaldi step: the new local coordinate after observing `rttMs` to a node
 * at `remote`. Pure: the inputs are not changed; randomness comes only from
 * `options.random` (and only when both nodes sit on the same point).
 */
export function updateCoordinate(
  local: VivaldiCoordinate,
  remote: VivaldiCoordinate,
  rttMs: number,
  options: VivaldiOptions = {},
): VivaldiCoordinate {
  if (!Number.isFinite(rttMs) || rttMs <= 0) {
    throw new BwnodeError(ERR.INVALID_RTT, `an RTT sample must be a finite number > 0 ms, got ${rttMs}`)
  }
  const cc = options.cc ?? DEFAULT_VIVALDI_CC
  const ce = options.ce ?? DEFAULT_VIVALDI_CE
  const minHeight = options.minHeightMs ?? DEFAULT_VIVALDI_MIN_HEIGHT_MS
  const maxError = options.maxError ?? DEFAULT_VIVALDI_INITIAL_ERROR

  const dx = local.x - remote.x
  const dy = local.y - remote.y
  const planeDistance = Math.hypot(dx, dy)
  const predicted = planeDistance + local.height + remote.height

  // Sample weight: trust the remote more when our own error is larger.
  const totalError = local.error + remote.error
  const w = totalError > 0 ? local.error / totalError : 0.5
  const sampleError = Math.abs(predicted - rttMs) / rttMs
  const error = Math.min(maxError, sampleError * ce * w + local.error * (1 - ce * w))

  // Positive force pushes us away from the remote (the prediction is too short).
  const force = cc * w * (rttMs - predicted)

  let x = local.x
  let y = local.y
  let height = local.height
  if (planeDistance > SAME_PLACE_MS) {
    // Unit vector of the height-augmented difference [dx, dy, h_l + h_r], whose
    // norm is planeDistance + h_l + h_r: the step is shared between the plane
    // and the height in proportion to how much each contributes to the RTT.
    x += (force * dx) / predicted
    y += (force * dy) / predicted
    height += (force * (local.height + remote.height)) / predicted
  } else {
    // Same point: no direction to push along, so pick one at random (paper, section 4).
    const angle = 2 * Math.PI * (options.random ?? Math.random)()
    x += force * Math.cos(angle)
    y += force * Math.sin(angle)
  }
  return { x, y, height: Math.max(minHeight, height), error }
}

/** Throws unless `value` is a well-formed coordinate (finite numbers, height and error >= 0). */
export function parseCoordinate(value: unknown): VivaldiCoordinate {
  const v = value as Partial<Record<keyof VivaldiCoordinate, unknown>> | null
  const ok =
    typeof v === 'object' &&
    v !== null &&
    isFiniteNumber(v.x) &&
    isFiniteNumber(v.y) &&
    isFiniteNumber(v.height) &&
    v.height >= 0 &&
    isFiniteNumber(v.error) &&
    v.error >= 0
  if (!ok) throw new BwnodeError(ERR.INVALID_COORDINATE, 'not a Vivaldi coordinate {x, y, height, error}')
  return { x: v.x as number, y: v.y as number, height: v.height as number, error: v.error as number }
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

/** A node's own coordinate that moves with each sample; `toJSON()` gives the small object to share. */
export class VivaldiNode {
  private readonly options: VivaldiOptions
  private ownCoordinate: VivaldiCoordinate

  constructor(init: VivaldiOptions & { coordinate?: VivaldiCoordinate } = {}) {
    const { coordinate, ...options } = init
    this.options = options
    this.ownCoordinate = coordinate !== undefined ? parseCoordinate(coordinate) : originCoordinate(options)
  }

  get coordinate(): VivaldiCoordinate {
    return { ...this.ownCoordinate }
  }

  /** The node's relative error estimate (0 = perfect, 1 = no idea). */
  get error(): number {
    return this.ownCoordinate.error
  }

  update(remote: VivaldiCoordinate, rttMs: number): VivaldiCoordinate {
    this.ownCoordinate = updateCoordinate(this.ownCoordinate, remote, rttMs, this.options)
    return this.coordinate
  }

  estimateRtt(remote: VivaldiCoordinate): number {
    return estimateRtt(this.ownCoordinate, remote)
  }

  toJSON(): VivaldiCoordinate {
    return this.coordinate
  }
}
