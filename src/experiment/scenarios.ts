/**
 * What the experiment runs: the emulated places nodes sit in (figures from CLAIM.md), the datasets
 * at the scale of each mode, and the matrix of cells per mode.
 */
import type { LinkConfig } from '../config/schema.ts'
import type { Placement, Workload } from './types.ts'

const KiB = 1024
const MiB = 1024 * KiB

/** Fibre path / straight-line distance used for every link (real routes: ~1.3x to ~2.1x). */
export const ROUTE_INFLATION = 1.5
/** Residential last mile, one way, ms (Ookla 2023 US median ~8-16 ms). */
export const RESIDENTIAL_ACCESS_MS = 10
/** Residential upload lent to the network, Mbit/s (median ~20-27). */
export const RESIDENTIAL_UPLINK_MBPS = 25
/** Same-datacentre peer: access one way, ms, and rate, Mbit/s (RTT ~0.5 ms; 1-10 Gbit/s). */
export const DATACENTRE_ACCESS_MS = 0.25
export const DATACENTRE_UPLINK_MBPS = 2000
export const DATACENTRE_DISTANCE_KM = 0.1
/**
 * Distant origin (object storage in another region): 4000 km of fibre at 1.5x inflation is ~29 ms
 * one way, plus 20 ms at the front end, for an RTT of ~100 ms; its share of bandwidth is 1 Gbit/s.
 */
export const ORIGIN_DISTANCE_KM = 4000
export const ORIGIN_ACCESS_MS = 20
export const ORIGIN_UPLINK_MBPS = 1000

/** W1 consumption target, bytes/s: a modest training loader (~70 samples/s of ~115 KB). */
export const W1_TARGET_BYTES_PER_SEC = 8_000_000
/** W3 consumption rate, bytes/s: a token stream far below any link's rate. */
export const W3_TARGET_BYTES_PER_SEC = 256 * KiB
/** W3 reads tokens in small chunks, as a streaming reader would. */
export const W3_CHUNK_BYTES = 64 * KiB

export type Role = 'consumer' | 'datacentre' | 'origin' | 'residential'

/** The consumer is a training machine at the centre of the map, inside its datacentre. */
export function consumerLink(): LinkConfig {
  return link(0, 0, { x: 0, y: 0 })
}

export function datacentreLink(): LinkConfig {
  return link(DATACENTRE_ACCESS_MS, DATACENTRE_UPLINK_MBPS, { x: DATACENTRE_DISTANCE_KM, y: 0 })
}

export function originLink(): LinkConfig {
  return link(ORIGIN_ACCESS_MS, ORIGIN_UPLINK_MBPS, { x: 0, y: -ORIGIN_DISTANCE_KM })
}

/** Peer `index` of `count` residential peers, all `distanceKm` from the consumer, spread on a circle. */
export function residentialLink(distanceKm: number, index: number, count: number): LinkConfig {
  const angle = (2 * Math.PI * index) / Math.max(1, count)
  return link(RESIDENTIAL_ACCESS_MS, RESIDENTIAL_UPLINK_MBPS, {
    x: distanceKm * Math.cos(angle),
    y: distanceKm * Math.sin(angle),
  })
}

function link(accessLatencyMs: number, uplinkMbps: number, position: { x: number; y: number }): LinkConfig {
  return { accessLatencyMs, uplinkMbps, downlinkMbps: 0, position, routeInflation: ROUTE_INFLATION }
}

/** A dataset the runner imports once, under a name the cells refer to. */
export interface DatasetPlan {
  id: string
  recipe: 'samples' | 'shards' | 'tokens'
  scale: number
  chunkSizeBytes: number
}

/** One cell of the matrix, before it is run. */
export interface CellPlan {
  workload: Workload
  placement: Placement
  datasetId: string
  distanceKm?: number
  k?: number
  inFlight: number
  /** W1/W3: items read ahead of the consumer. */
  prefetchDepth?: number
  targetBytesPerSec?: number
  /** W3: how many chunks of the stream to read. */
  itemLimit?: number
}

export interface ExperimentPlan {
  repetitions: number
  distancesKm: number[]
  ks: number[]
  datasets: DatasetPlan[]
  /** Cells that need no residential peers (P0, P1, P3) and those per distance (P2, P4). */
  fixedCells: CellPlan[]
  cellsAtDistance(distanceKm: number): CellPlan[]
  knobs: Record<string, number | string | boolean | Array<number | string | boolean>>
}

const DEFAULT_IN_FLIGHT = 16
const W1_PREFETCH_DEPTH = 16
const W3_PREFETCH_DEPTH = 4

function baseCells(
  workload: Workload,
  placement: Placement,
  datasetId: string,
  extra: Partial<CellPlan> = {},
): CellPlan {
  const perWorkload: Partial<CellPlan> =
    workload === 'W1-random-samples'
      ? { prefetchDepth: W1_PREFETCH_DEPTH, targetBytesPerSec: W1_TARGET_BYTES_PER_SEC }
      : workload === 'W3-token-stream'
        ? { prefetchDepth: W3_PREFETCH_DEPTH, targetBytesPerSec: W3_TARGET_BYTES_PER_SEC }
        : {}
  return { workload, placement, datasetId, inFlight: DEFAULT_IN_FLIGHT, ...perWorkload, ...extra }
}

const WORKLOAD_DATASET: Record<Workload, string> = {
  'W1-random-samples': 'samples',
  'W2-sequential-shards': 'shards-1m',
  'W3-token-stream': 'tokens',
  'W4-bulk-staging': 'samples',
}

export function buildPlan(mode: 'quick' | 'full'): ExperimentPlan {
  const quick = mode === 'quick'
  const distancesKm = quick ? [10, 1000] : [1, 10, 100, 1000]
  const ks = quick ? [1, 4] : [1, 4, 16]
  const w3Items = quick ? 4 : 8
  const workloads: Workload[] = [
    'W1-random-samples',
    'W2-sequential-shards',
    'W3-token-stream',
    'W4-bulk-staging',
  ]
  const datasets: DatasetPlan[] = [
    // 2048 samples at scale 1: 24 in quick, 64 in full (~3 / ~7.5 MB).
    { id: 'samples', recipe: 'samples', scale: quick ? 24 / 2048 : 64 / 2048, chunkSizeBytes: MiB },
    // 4 shards of 128 MiB at scale 1: 1.5 MiB each in quick (6 MiB), 4 MiB in full (16 MiB), so a 4 MiB chunk is a whole file.
    { id: 'shards-1m', recipe: 'shards', scale: quick ? 1.5 / 128 : 4 / 128, chunkSizeBytes: MiB },
    { id: 'tokens', recipe: 'tokens', scale: quick ? 1 / 64 : 2 / 64, chunkSizeBytes: W3_CHUNK_BYTES },
  ]
  if (!quick) {
    datasets.push(
      { id: 'shards-256k', recipe: 'shards', scale: 4 / 128, chunkSizeBytes: 256 * KiB },
      { id: 'shards-4m', recipe: 'shards', scale: 4 / 128, chunkSizeBytes: 4 * MiB },
    )
  }
  const extras = (w: Workload): Partial<CellPlan> => (w === 'W3-token-stream' ? { itemLimit: w3Items } : {})

  const fixedCells: CellPlan[] = []
  for (const w of workloads) {
    for (const p of ['P0-local-cold', 'P0-local-warm', 'P1-datacentre-peer', 'P3-origin'] as const) {
      fixedCells.push(baseCells(w, p, WORKLOAD_DATASET[w], extras(w)))
    }
  }
  // Little's law against the origin: one request in flight vs many.
  const inFlightSweep = quick ? [1] : [1, 4, 64]
  for (const inFlight of inFlightSweep) {
    fixedCells.push(baseCells('W2-sequential-shards', 'P3-origin', 'shards-1m', { inFlight }))
  }
  if (!quick) {
    for (const datasetId of ['shards-256k', 'shards-4m']) {
      fixedCells.push(baseCells('W2-sequential-shards', 'P3-origin', datasetId))
    }
  }

  const cellsAtDistance = (distanceKm: number): CellPlan[] => {
    const cells: CellPlan[] = []
    for (const w of workloads) {
      for (const k of ks) {
        cells.push(baseCells(w, 'P2-residential-peers', WORKLOAD_DATASET[w], { ...extras(w), distanceKm, k }))
      }
      const kMixed = ks[Math.min(1, ks.length - 1)]!
      if (w !== 'W3-token-stream') {
        cells.push(
          baseCells(w, 'P4-origin-plus-peers', WORKLOAD_DATASET[w], { ...extras(w), distanceKm, k: kMixed }),
        )
      }
    }
    // Knobs at one middle distance: requests in flight and chunk size with k peers.
    const knobDistance = quick ? 10 : 100
    if (distanceKm === knobDistance) {
      const k = ks[Math.min(1, ks.length - 1)]!
      for (const inFlight of quick ? [1] : [1, 4, 64]) {
        cells.push(
          baseCells('W2-sequential-shards', 'P2-residential-peers', 'shards-1m', { distanceKm, k, inFlight }),
        )
      }
      if (!quick) {
        for (const datasetId of ['shards-256k', 'shards-4m']) {
          cells.push(baseCells('W2-sequential-shards', 'P2-residential-peers', datasetId, { distanceKm, k }))
        }
      }
    }
    return cells
  }

  return {
    repetitions: quick ? 1 : 5,
    distancesKm,
    ks,
    datasets,
    fixedCells,
    cellsAtDistance,
    knobs: {
      routeInflation: ROUTE_INFLATION,
      inFlight: DEFAULT_IN_FLIGHT,
      inFlightSweep: [...new Set([1, ...inFlightSweep, DEFAULT_IN_FLIGHT])].sort((a, b) => a - b),
      chunkSizeBytes: MiB,
      chunkSizeSweepBytes: quick ? [MiB] : [256 * KiB, MiB, 4 * MiB],
      w1PrefetchDepth: W1_PREFETCH_DEPTH,
      w1TargetMBps: W1_TARGET_BYTES_PER_SEC / 1e6,
      w3PrefetchDepth: W3_PREFETCH_DEPTH,
      w3TargetMBps: W3_TARGET_BYTES_PER_SEC / 1e6,
      w3ChunkBytes: W3_CHUNK_BYTES,
      residentialAccessMs: RESIDENTIAL_ACCESS_MS,
      residentialUplinkMbps: RESIDENTIAL_UPLINK_MBPS,
      datacentreAccessMs: DATACENTRE_ACCESS_MS,
      datacentreUplinkMbps: DATACENTRE_UPLINK_MBPS,
      originDistanceKm: ORIGIN_DISTANCE_KM,
      originAccessMs: ORIGIN_ACCESS_MS,
      originUplinkMbps: ORIGIN_UPLINK_MBPS,
      distancesKm,
      ks,
    },
  }
}
