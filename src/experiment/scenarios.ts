/**
 * What the experiment runs: the emulated places nodes sit in (figures from CLAIM.md), the datasets
 * at the scale of each mode, and the matrix of cells per mode.
 */
import { gamma } from 'simple-statistics'
import type { LinkConfig } from '../config/schema.ts'
import { linkBetween } from '../net/link.ts'
import {
  BLOATED_QUEUE_MS,
  DEFAULT_CROSS_TRAFFIC_SHARE,
  MANAGED_QUEUE_MS,
  type UplinkLoadSettings,
} from '../net/uplink-load.ts'
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

/**
 * W1 consumption target, bytes/s: one A100 training ResNet-50 (~2,470 img/s of ~115 KB, CLAIM.md).
 * The claim is about AI training, so the deciding W1 cells ask what one GPU asks.
 */
export const W1_TARGET_BYTES_PER_SEC = 285_000_000
/** A small, non-urgent job (~70 samples/s), the kind the claim concedes to shared capacity. */
export const W1_SMALL_JOB_BYTES_PER_SEC = 8_000_000
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
  return {
    accessLatencyMs,
    uplinkMbps,
    downlinkMbps: 0,
    position,
    routeInflation: ROUTE_INFLATION,
    queueMs: MANAGED_QUEUE_MS,
  }
}

/** A dataset the runner imports once, under a name the cells refer to. */
export interface DatasetPlan {
  id: string
  recipe: 'samples' | 'shards' | 'tokens'
  scale: number
  chunkSizeBytes: number
}

/**
 * The fixed comparisons of the verdict, chosen before the run (never the best of many cells):
 * - 'local': local storage (P0 cold), the claim's HPC side;
 * - 'network': shared bandwidth as the claim pictures it, peers at DECIDING_DISTANCE_KM;
 * - 'near': the same peers at NEAR_DISTANCE_KM, so distance is the only thing that changes;
 * - 'origin': the distant origin, for peers vs origin (W2, W4).
 * Cells without a role are supplementary: reported, never deciding.
 */
export const CELL_ROLES = ['local', 'network', 'near', 'origin'] as const
export type CellRole = (typeof CELL_ROLES)[number]

/** The claim's farthest distance: 'data sits 1 km, 10 km, 100 km away'. */
export const DECIDING_DISTANCE_KM = 100
export const NEAR_DISTANCE_KM = 1
/** Peers serving a deciding cell: a swarm for bulk and training reads, one peer for a token stream. */
export const DECIDING_K = 16
export const DECIDING_K_TOKEN_STREAM = 1

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
  /** W2: read the first n chunks (a steady-state size for this cell's sources); W3: n items. */
  itemLimit?: number
  role?: CellRole
  /** Distinguishes cells that differ only in a knob the id does not show (e.g. W1's target). */
  tag?: string
  /** What the residential peers' uplinks carry besides bwnode during this cell (absent: nothing). */
  load?: UplinkLoadSettings
  /** Peers that leave the network during each run (churn), and when: a share of the ideal run time. */
  churn?: ChurnPlan
  /**
   * 'dht': the run's consumer is a node that has just joined, knowing only a bootstrap peer; it
   * finds the cell's providers on the DHT and dials them inside the timed run (scheduling cells).
   */
  discovery?: 'dht'
}

export interface ChurnPlan {
  departures: number
  atShareOfRun: number
}

/**
 * Session lengths of peers in a public P2P network: ProbeLab's Nebula crawls of the IPFS DHT
 * (RFM 2, "Uptime and Churn", one week of 2022): 50% of peers that join stay online ~2 h or less,
 * 80% 8 h or less. A Weibull distribution through those two quantiles has shape 0.61 (heavy
 * tailed, as Stutzbach and Rejaie found for Gnutella, BitTorrent and Kad in 2006) and scale 3.66 h.
 */
export const SESSION_MEDIAN_HOURS = 2
export const SESSION_P80_HOURS = 8
export function sessionWeibull(): { shape: number; scaleHours: number; meanHours: number } {
  const shape = Math.log(Math.log(5) / Math.log(2)) / Math.log(SESSION_P80_HOURS / SESSION_MEDIAN_HOURS)
  const scaleHours = SESSION_MEDIAN_HOURS / Math.log(2) ** (1 / shape)
  return { shape, scaleHours, meanHours: scaleHours * gamma(1 + 1 / shape) }
}

/** One peer of the swarm leaves a third of the way into the run and does not come back in it. */
export const CHURN_PLAN: ChurnPlan = { departures: 1, atShareOfRun: 0.3 }
export const CHURN_TAG = 'churn'

/**
 * Latency under load (CLAIM.md: +50-100 ms on loaded home uplinks, M-Lab): the lent uplinks carry a
 * greedy household upload, behind a bloated drop-tail buffer or a managed (AQM) queue.
 */
export const LOAD_CONDITIONS: Record<'bloated' | 'managed', UplinkLoadSettings> = {
  bloated: {
    crossTrafficShare: DEFAULT_CROSS_TRAFFIC_SHARE,
    crossTrafficGreedy: true,
    bufferMs: BLOATED_QUEUE_MS,
  },
  managed: {
    crossTrafficShare: DEFAULT_CROSS_TRAFFIC_SHARE,
    crossTrafficGreedy: true,
    bufferMs: MANAGED_QUEUE_MS,
  },
}
/** Cells of the latency-under-load group carry a tag that starts with this. */
export const LOAD_TAG = 'load'

export interface ModeSettings {
  repetitions: number
  /** Repetitions of supplementary (non-deciding) cells. */
  supplementaryRepetitions: number
  /** Repetitions at 2K that check a dilated cell's result does not move. */
  dilationCheckRepetitions: number
  /** Check only the cells that decide a status (the quick run's budget). */
  checkDecidingCellsOnly: boolean
  samplesCount: number
  /** Total size of the shards dataset (W2 reads part of it, W4 stages all of it), MiB. */
  shardsMiB: number
  /** W3: how long the token stream runs, s. */
  tokenStreamSeconds: number
}

export const MODE_SETTINGS: Record<'quick' | 'full', ModeSettings> = {
  quick: {
    repetitions: 3,
    supplementaryRepetitions: 2,
    // one run at 2K per deciding cell: the check runs at twice the dilation, so it is what a quick
    // run spends most on (2 x 21 s of a W1/W2/W4 cell's 80 s at K = 8); a cell it moves by more
    // than the margin is untrusted, and its workload inconclusive, as with more runs
    dilationCheckRepetitions: 1,
    checkDecidingCellsOnly: true,
    samplesCount: 512,
    shardsMiB: 64,
    tokenStreamSeconds: 4,
  },
  full: {
    repetitions: 5,
    supplementaryRepetitions: 3,
    dilationCheckRepetitions: 2,
    checkDecidingCellsOnly: false,
    samplesCount: 512,
    shardsMiB: 512,
    tokenStreamSeconds: 30,
  },
}

export interface ExperimentPlan {
  settings: ModeSettings
  distancesKm: number[]
  ks: number[]
  datasets: DatasetPlan[]
  /** Cells that need no residential peers (P0, P1, P3) and those per distance (P2, P4). */
  fixedCells: CellPlan[]
  cellsAtDistance(distanceKm: number): CellPlan[]
  knobs: Record<string, number | string | boolean | Array<number | string | boolean>>
}

const DEFAULT_IN_FLIGHT = 16
export const W1_PREFETCH_DEPTH = 64
const W3_PREFETCH_DEPTH = 4
/** A sequential read is steady state when it moves this many bandwidth-delay products. */
export const STEADY_STATE_BDPS = 20
/**
 * No W2 cell reads less than this, MiB: four 1 MiB chunks per provider of a 16-peer swarm, so one
 * late chunk does not decide the result (at two chunks per peer, a supplementary cell moved 6.8%
 * between dilation 8 and 16).
 */
export const MIN_SEQUENTIAL_MIB = 64

/** Where a placement's bytes come from: one path per provider, undilated. */
export interface SourcePath {
  rateBytesPerSec: number
  rttMs: number
}

/**
 * The paths the configured links give a placement, from the consumer's point of view. A load on the
 * residential uplinks leaves them its share of the rate and puts a greedy upload's standing queue
 * on their round trip.
 */
export function placementPaths(
  placement: Placement,
  distanceKm = 0,
  k = 1,
  load?: UplinkLoadSettings,
): SourcePath[] {
  const path = (link: LinkConfig): SourcePath => {
    const p = linkBetween(emulatedLinkOf(link), emulatedLinkOf(consumerLink()))
    return { rateBytesPerSec: (p.rateMbps * 1e6) / 8, rttMs: 2 * p.oneWayDelayMs }
  }
  const loaded = (p: SourcePath): SourcePath =>
    load === undefined
      ? p
      : {
          rateBytesPerSec: p.rateBytesPerSec * (1 - load.crossTrafficShare),
          rttMs: p.rttMs + (load.crossTrafficGreedy && load.crossTrafficShare > 0 ? load.bufferMs : 0),
        }
  const peers = Array.from({ length: k }, (_, i) => loaded(path(residentialLink(distanceKm, i, k))))
  switch (placement) {
    case 'P1-datacentre-peer':
      return [path(datacentreLink())]
    case 'P2-residential-peers':
      return peers
    case 'P3-origin':
      return [path(originLink())]
    case 'P4-origin-plus-peers':
      return [path(originLink()), ...peers]
    default:
      return []
  }
}

function emulatedLinkOf(link: LinkConfig) {
  const rate = (mbps: number) => (mbps === 0 ? Number.POSITIVE_INFINITY : mbps)
  return {
    accessLatencyMs: link.accessLatencyMs,
    uplinkMbps: rate(link.uplinkMbps),
    downlinkMbps: rate(link.downlinkMbps),
    position: link.position,
    routeInflation: link.routeInflation,
  }
}

/** The paths of a planned cell (its placement, distance, k and load). */
export function cellPaths(p: CellPlan): SourcePath[] {
  return placementPaths(p.placement, p.distanceKm, p.k, p.load)
}

/**
 * Bytes a sequential read needs so that its sources' rates decide, not start-up: STEADY_STATE_BDPS
 * bandwidth-delay products of all sources together, each source's rate capped by its request
 * window (in flight x chunk / RTT, Little's law).
 */
export function steadyStateBytes(paths: SourcePath[], inFlight: number, chunkSizeBytes: number): number {
  let bdp = 0
  for (const p of paths) {
    const windowRate = (inFlight * chunkSizeBytes) / (Math.max(p.rttMs, 0.001) / 1000)
    bdp += Math.min(p.rateBytesPerSec, windowRate) * (p.rttMs / 1000)
  }
  return Math.max(MIN_SEQUENTIAL_MIB * MiB, STEADY_STATE_BDPS * bdp)
}

/** Cells of the scheduling group (providers found on the DHT inside the run) carry this tag. */
export const SCHEDULING_TAG = 'scheduling'

/** Cell groups a run can be limited to (`experiment --only NAME`). */
export const CELL_GROUPS = [LOAD_TAG, CHURN_TAG, SCHEDULING_TAG] as const
export type CellGroup = (typeof CELL_GROUPS)[number]

/**
 * The plan of one group alone: its cells and the baselines it is read against (as supplementary
 * cells, tagged `<group>-none`), at the group's distance only. Such a run decides no status.
 */
export function groupPlan(mode: 'quick' | 'full', groups: CellGroup | readonly CellGroup[]): ExperimentPlan {
  const list: readonly CellGroup[] = typeof groups === 'string' ? [groups] : groups
  const plan = buildPlan(mode, list)
  const groupOf = (c: CellPlan) => list.find((g) => c.tag?.startsWith(g) === true)
  const cellsAt = (d: number) => {
    const all = plan.cellsAtDistance(d)
    const out: CellPlan[] = []
    for (const group of list) {
      const members = all.filter((c) => groupOf(c) === group)
      const baselines = all.filter(
        (c) => c.role === 'network' && members.some((m) => m.workload === c.workload && m.k === c.k),
      )
      for (const { role: _role, ...rest } of baselines) out.push({ ...rest, tag: `${group}-none` })
      out.push(...members)
    }
    return out
  }
  return {
    ...plan,
    fixedCells: plan.fixedCells.filter((c) => groupOf(c) !== undefined),
    distancesKm: plan.distancesKm.filter((d) => cellsAt(d).length > 0),
    cellsAtDistance: cellsAt,
    knobs: { ...plan.knobs, only: list.join(',') },
  }
}

/** `groups`: the cell groups besides the core matrix (the full run has them all, quick none). */
export function buildPlan(
  mode: 'quick' | 'full',
  groups: readonly CellGroup[] = mode === 'full' ? CELL_GROUPS : [],
): ExperimentPlan {
  const quick = mode === 'quick'
  const settings = MODE_SETTINGS[mode]
  const distancesKm = quick ? [NEAR_DISTANCE_KM, DECIDING_DISTANCE_KM] : [1, 10, 100, 1000]
  const ks = quick ? [1, DECIDING_K] : [1, 4, DECIDING_K]
  const shardsBytes = settings.shardsMiB * MiB
  const datasets: DatasetPlan[] = [
    { id: 'samples', recipe: 'samples', scale: settings.samplesCount / 2048, chunkSizeBytes: MiB },
    // 4 shards of 128 MiB at scale 1.
    { id: 'shards-1m', recipe: 'shards', scale: settings.shardsMiB / 512, chunkSizeBytes: MiB },
    {
      id: 'tokens',
      recipe: 'tokens',
      // 64 MiB at scale 1; enough for the stream plus a margin.
      scale: Math.min(1, (1.25 * settings.tokenStreamSeconds * W3_TARGET_BYTES_PER_SEC) / (64 * MiB)),
      chunkSizeBytes: W3_CHUNK_BYTES,
    },
  ]
  if (!quick) {
    datasets.push(
      { id: 'shards-256k', recipe: 'shards', scale: 64 / 512, chunkSizeBytes: 256 * KiB },
      { id: 'shards-4m', recipe: 'shards', scale: 64 / 512, chunkSizeBytes: 4 * MiB },
    )
  }
  const chunkOf = (datasetId: string) => datasets.find((d) => d.id === datasetId)?.chunkSizeBytes ?? MiB
  const datasetBytes = (datasetId: string) =>
    datasetId === 'shards-1m' ? shardsBytes : datasetId.startsWith('shards-') ? 64 * MiB : shardsBytes
  const w3Items = Math.ceil((settings.tokenStreamSeconds * W3_TARGET_BYTES_PER_SEC) / W3_CHUNK_BYTES)

  const cell = (workload: Workload, placement: Placement, extra: Partial<CellPlan> = {}): CellPlan => {
    const perWorkload: Partial<CellPlan> =
      workload === 'W1-random-samples'
        ? {
            datasetId: 'samples',
            prefetchDepth: W1_PREFETCH_DEPTH,
            targetBytesPerSec: W1_TARGET_BYTES_PER_SEC,
          }
        : workload === 'W3-token-stream'
          ? {
              datasetId: 'tokens',
              prefetchDepth: W3_PREFETCH_DEPTH,
              targetBytesPerSec: W3_TARGET_BYTES_PER_SEC,
              itemLimit: w3Items,
            }
          : { datasetId: 'shards-1m' }
    const plan: CellPlan = {
      workload,
      placement,
      datasetId: 'shards-1m',
      inFlight: DEFAULT_IN_FLIGHT,
      ...perWorkload,
      ...extra,
    }
    if (workload === 'W2-sequential-shards' && !placement.startsWith('P0')) {
      const chunk = chunkOf(plan.datasetId)
      const wanted = steadyStateBytes(
        placementPaths(placement, plan.distanceKm, plan.k),
        plan.inFlight,
        chunk,
      )
      plan.itemLimit = Math.ceil(Math.min(wanted, datasetBytes(plan.datasetId)) / chunk)
    }
    if (workload === 'W2-sequential-shards' && placement.startsWith('P0')) {
      plan.itemLimit = Math.ceil(Math.min(256 * MiB, shardsBytes) / MiB)
    }
    return plan
  }
  const workloads = WORKLOADS_IN_ORDER

  const fixedCells: CellPlan[] = []
  for (const w of workloads) fixedCells.push(cell(w, 'P0-local-cold', { role: 'local' }))
  // The quick run holds only the cells that decide the claim's statuses (local, near, network):
  // the origin and datacentre links need dilation 8-16 and belong to the full run.
  if (!quick) {
    fixedCells.push(cell('W2-sequential-shards', 'P3-origin', { role: 'origin' }))
    fixedCells.push(cell('W4-bulk-staging', 'P3-origin', { role: 'origin' }))
    // (supplementary W3/W4 cells would repeat a consumer-paced 30 s or a 512 MiB staging per run)
    for (const w of ['W1-random-samples', 'W2-sequential-shards'] as const) {
      fixedCells.push(cell(w, 'P0-local-warm'), cell(w, 'P1-datacentre-peer'))
    }
    fixedCells.push(cell('W1-random-samples', 'P3-origin'), cell('W3-token-stream', 'P3-origin'))
    fixedCells.push(
      cell('W1-random-samples', 'P0-local-cold', {
        targetBytesPerSec: W1_SMALL_JOB_BYTES_PER_SEC,
        tag: 'small-job',
      }),
    )
    // Little's law against the origin: requests in flight, and chunk size.
    for (const inFlight of [1, 4, 64])
      fixedCells.push(cell('W2-sequential-shards', 'P3-origin', { inFlight }))
    for (const datasetId of ['shards-256k', 'shards-4m'])
      fixedCells.push(cell('W2-sequential-shards', 'P3-origin', { datasetId }))
  }

  const cellsAtDistance = (distanceKm: number): CellPlan[] => {
    const cells: CellPlan[] = []
    const role: CellRole | undefined =
      distanceKm === DECIDING_DISTANCE_KM ? 'network' : distanceKm === NEAR_DISTANCE_KM ? 'near' : undefined
    if (role !== undefined) {
      for (const w of workloads) {
        const k = w === 'W3-token-stream' ? DECIDING_K_TOKEN_STREAM : DECIDING_K
        cells.push(cell(w, 'P2-residential-peers', { distanceKm, k, role }))
      }
    }
    if (distanceKm === DECIDING_DISTANCE_KM && !quick) {
      cells.push(cell('W2-sequential-shards', 'P4-origin-plus-peers', { distanceKm, k: DECIDING_K }))
      cells.push(cell('W4-bulk-staging', 'P4-origin-plus-peers', { distanceKm, k: DECIDING_K }))
      cells.push(cell('W1-random-samples', 'P4-origin-plus-peers', { distanceKm, k: DECIDING_K }))
      for (const k of [1, 4])
        cells.push(cell('W2-sequential-shards', 'P2-residential-peers', { distanceKm, k }))
      cells.push(
        cell('W1-random-samples', 'P2-residential-peers', {
          distanceKm,
          k: 4,
          targetBytesPerSec: W1_SMALL_JOB_BYTES_PER_SEC,
          tag: 'small-job',
        }),
      )
      cells.push(cell('W2-sequential-shards', 'P2-residential-peers', { distanceKm, k: 4, inFlight: 1 }))
    }
    if (distanceKm === DECIDING_DISTANCE_KM && groups.includes(LOAD_TAG)) cells.push(...loadCells(distanceKm))
    if (distanceKm === DECIDING_DISTANCE_KM && groups.includes(CHURN_TAG))
      cells.push(...churnCells(distanceKm))
    if (distanceKm === DECIDING_DISTANCE_KM && groups.includes(SCHEDULING_TAG))
      cells.push(...schedulingCells(distanceKm))
    if (role === undefined) {
      // the distance sweep: the same swarm further away
      cells.push(cell('W2-sequential-shards', 'P2-residential-peers', { distanceKm, k: DECIDING_K }))
    }
    return cells
  }

  /**
   * Latency under load: the network cells of W1 and W3 again, the peers' uplinks loaded (bloated or
   * managed queue). The unloaded baseline is the network cell itself.
   */
  const loadCells = (distanceKm: number): CellPlan[] =>
    (['W1-random-samples', 'W3-token-stream'] as const).flatMap((w) =>
      (['bloated', 'managed'] as const).map((condition) =>
        cell(w, 'P2-residential-peers', {
          distanceKm,
          k: w === 'W3-token-stream' ? DECIDING_K_TOKEN_STREAM : DECIDING_K,
          load: LOAD_CONDITIONS[condition],
          tag: `${LOAD_TAG}-${condition}`,
        }),
      ),
    )

  /** Churn: the network cells of the swarm workloads again, one peer leaving during each run. */
  const churnCells = (distanceKm: number): CellPlan[] =>
    (['W1-random-samples', 'W2-sequential-shards', 'W4-bulk-staging'] as const).map((w) =>
      cell(w, 'P2-residential-peers', {
        distanceKm,
        k: DECIDING_K,
        churn: CHURN_PLAN,
        tag: `${CHURN_TAG}-${CHURN_PLAN.departures}`,
      }),
    )

  /**
   * Scheduling: the network cells of W3 (one provider: the first byte) and W4 (sixteen: staging)
   * again, from a consumer that joined just before the run and knows only a bootstrap peer, so the
   * DHT lookup and the dials to the providers it finds are inside the timed run.
   */
  const schedulingCells = (distanceKm: number): CellPlan[] =>
    (['W3-token-stream', 'W4-bulk-staging'] as const).map((w) =>
      cell(w, 'P2-residential-peers', {
        distanceKm,
        k: w === 'W3-token-stream' ? DECIDING_K_TOKEN_STREAM : DECIDING_K,
        discovery: 'dht',
        tag: `${SCHEDULING_TAG}-dht`,
      }),
    )

  return {
    settings,
    distancesKm,
    ks,
    datasets,
    fixedCells,
    cellsAtDistance,
    knobs: {
      groups: groups.length === 0 ? 'none' : groups.join(','),
      routeInflation: ROUTE_INFLATION,
      inFlight: DEFAULT_IN_FLIGHT,
      inFlightSweep: quick ? [DEFAULT_IN_FLIGHT] : [1, 4, DEFAULT_IN_FLIGHT, 64],
      chunkSizeBytes: MiB,
      chunkSizeSweepBytes: quick ? [MiB] : [256 * KiB, MiB, 4 * MiB],
      w1PrefetchDepth: W1_PREFETCH_DEPTH,
      w1TargetMBps: W1_TARGET_BYTES_PER_SEC / 1e6,
      w1SmallJobMBps: W1_SMALL_JOB_BYTES_PER_SEC / 1e6,
      w3PrefetchDepth: W3_PREFETCH_DEPTH,
      w3TargetMBps: W3_TARGET_BYTES_PER_SEC / 1e6,
      w3ChunkBytes: W3_CHUNK_BYTES,
      w3StreamSeconds: settings.tokenStreamSeconds,
      steadyStateBdps: STEADY_STATE_BDPS,
      minSequentialMiB: MIN_SEQUENTIAL_MIB,
      steadyRate: 'bytes between 10% and 90% arrived, over that time',
      shardsMiB: settings.shardsMiB,
      samplesCount: settings.samplesCount,
      residentialAccessMs: RESIDENTIAL_ACCESS_MS,
      residentialUplinkMbps: RESIDENTIAL_UPLINK_MBPS,
      datacentreAccessMs: DATACENTRE_ACCESS_MS,
      datacentreUplinkMbps: DATACENTRE_UPLINK_MBPS,
      originDistanceKm: ORIGIN_DISTANCE_KM,
      originAccessMs: ORIGIN_ACCESS_MS,
      originUplinkMbps: ORIGIN_UPLINK_MBPS,
      decidingDistanceKm: DECIDING_DISTANCE_KM,
      nearDistanceKm: NEAR_DISTANCE_KM,
      decidingK: DECIDING_K,
      decidingKTokenStream: DECIDING_K_TOKEN_STREAM,
      distancesKm,
      ks,
      loadCrossTrafficShare: DEFAULT_CROSS_TRAFFIC_SHARE,
      loadBloatedQueueMs: BLOATED_QUEUE_MS,
      loadManagedQueueMs: MANAGED_QUEUE_MS,
    },
  }
}

const WORKLOADS_IN_ORDER: Workload[] = [
  'W1-random-samples',
  'W2-sequential-shards',
  'W3-token-stream',
  'W4-bulk-staging',
]
