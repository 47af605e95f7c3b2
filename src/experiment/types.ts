/**
 * The results data model of the claim experiment. The runner fills a `Results` object, `writeReport()`
 * writes it to results.json, and `parseResults()` re-reads and validates it later, so a report can be
 * rebuilt from a stored run without re-running anything.
 */

import { z } from 'zod'
import { linkSchema } from '../config/schema.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'

/** Bump when a field changes meaning; `parseResults()` refuses other versions. */
export const RESULTS_SCHEMA_VERSION = 2

export const WORKLOADS = [
  'W1-random-samples',
  'W2-sequential-shards',
  'W3-token-stream',
  'W4-bulk-staging',
] as const
export const PLACEMENTS = [
  'P0-local-cold',
  'P0-local-warm',
  'P1-datacentre-peer',
  'P2-residential-peers',
  'P3-origin',
  'P4-origin-plus-peers',
] as const

export const WorkloadSchema = z.enum(WORKLOADS)
export const PlacementSchema = z.enum(PLACEMENTS)
export const ModeSchema = z.enum(['quick', 'full', 'live'])

const nonNegative = z.number().finite().nonnegative()

/** Knob values are free-form (the runner owns them) but must be plain JSON scalars or lists of them. */
const KnobValueSchema = z.union([
  z.number(),
  z.string(),
  z.boolean(),
  z.array(z.union([z.number(), z.string(), z.boolean()])),
])

export const ConfigSchema = z.object({
  mode: ModeSchema,
  seed: z.number().int(),
  repetitions: z.number().int().positive(),
  /**
   * Knobs of the run, e.g. inFlight, chunkSizeBytes, yamuxWindowBytes, prefetchDepth. `routeInflation`
   * (fibre path / straight-line distance, ~1.3 to ~2.1) is read by the latency decomposition when set.
   */
  knobs: z.record(z.string(), KnobValueSchema),
})

export const MachineSchema = z.object({
  cpus: z.number().int().positive(),
  memGiB: nonNegative,
  platform: z.string(),
  node: z.string(),
})

export const CalibrationSchema = z.object({
  /**
   * Throughput through the shaper at zero delay and no rate cap / throughput without it (1 = free);
   * absent where no emulator ran (a live run).
   */
  zeroDelayOverheadRatio: nonNegative.optional(),
  /** Chunk throughput between two in-process nodes with no emulator, MB/s: this machine's ceiling. */
  machineMBps: nonNegative.optional(),
  /** Measured RTT per configured (rate, RTT) pair of the run, at the dilation its cells start with. */
  rtt: z.array(
    z.object({ configuredMs: nonNegative, measuredMs: nonNegative, dilation: z.number().min(1).optional() }),
  ),
  rate: z.array(
    z.object({
      configuredMbps: nonNegative,
      measuredMbps: nonNegative,
      rttMs: nonNegative.optional(),
      dilation: z.number().min(1).optional(),
    }),
  ),
  passed: z.boolean(),
  notes: z.string(),
})

export const LinkModelSchema = z.object({
  oneWayDelayMs: z.object({
    /** Distance part of the one-way delay (fibre, route inflation included). */
    propagationMs: nonNegative,
    /** Last-mile part of the one-way delay, both ends summed (a packet crosses both access links). */
    accessMs: nonNegative,
  }),
  /** Per-link rate cap (a lending peer's uplink, the origin's share). 0 = not rate limited (local). */
  rateMbps: nonNegative,
})

/**
 * What limited a run, from measured figures (see fidelity.ts):
 * - link-bound: within FIDELITY band of what the configured links allow (round trips + bytes / rate);
 * - consumer-paced: the consumer's target rate, not the links, set the pace, and it was met;
 * - window-bound: requests in flight x chunk / RTT (a knob of the run) set the pace, and it was met;
 * - machine-bound: below what the links allow while this machine was saturated (event loop, CPU,
 *   late emulator releases): a property of this machine, not of the network;
 * - protocol-bound: below what the links allow while the machine had room: the chunk path limits;
 * - local: local storage, which measures this machine's disk and page cache by definition;
 * - network-bound (live runs only): below what the providers' offers allow, or with no offered rate
 *   to compare with, while this machine had room: the real network, the providers and the chunk
 *   path together set the pace, and a live run cannot tell them apart.
 */
export const FIDELITY_LABELS = [
  'link-bound',
  'consumer-paced',
  'window-bound',
  'machine-bound',
  'protocol-bound',
  'local',
  'network-bound',
] as const
export const FidelityLabelSchema = z.enum(FIDELITY_LABELS)

export const RunFidelitySchema = z.object({
  label: FidelityLabelSchema,
  /** Dilation factor K the run used (its figures are already converted back to undilated time). */
  dilation: z.number().min(1),
  /** Event-loop utilisation of this process over the run (0..1). */
  eventLoopUtilisation: z.number().min(0).max(1),
  /** CPU time of this process / wall time (2 = both cores busy). */
  cpuCores: nonNegative,
  /**
   * Busy time of every process on the machine / wall time, in cores (a live run: the daemons and
   * whatever else shares the machine count too). Absent in the lab, where one process holds every node.
   */
  machineCores: nonNegative.optional(),
  /** Emulator release lateness, undilated ms. */
  latenessP50Ms: nonNegative,
  latenessP99Ms: nonNegative,
  /** Link time the emulator let late senders reclaim, undilated ms in total. */
  catchUpMs: nonNegative,
  /** What the configured links (and the consumer's target) allow, s; absent for local runs. */
  idealSeconds: nonNegative.optional(),
  /** idealSeconds / seconds: 1 = as fast as the links allow. */
  achieved: nonNegative.optional(),
  /** Why the label, in words with the figure. */
  reason: z.string(),
})

export const RunSchema = z.object({
  seconds: nonNegative,
  bytes: nonNegative,
  throughputMBps: nonNegative,
  ttfbMs: nonNegative,
  /** Chunk latencies in milliseconds: `LatencyHistogram.encode()` from src/latency/histogram.ts. */
  latencyHistogram: z.string(),
  /** W1: time for one pass over the sample set. */
  epochSeconds: nonNegative.optional(),
  /** W1/W3: share of wall time the consumer waited for data (0..1). */
  stallFraction: z.number().min(0).max(1).optional(),
  originBytes: nonNegative,
  peerBytes: nonNegative,
  /** Mean per-request queueing delay measured by the emulator, when it can tell. */
  queueingMs: nonNegative.optional(),
  /** Mean per-request protocol overhead measured by the client, when it can tell. */
  protocolMs: nonNegative.optional(),
  /** Time until the first whole chunk (or sample) arrived, ms: start-up, apart from steady state. */
  firstChunkMs: nonNegative.optional(),
  /** Throughput after the first chunk arrived, MB/s: the steady-state rate. */
  steadyMBps: nonNegative.optional(),
  /**
   * Scheduling cells: when the consumer's DHT lookup found the first of the cell's providers and
   * all of them, and when its first session to a provider was open, undilated ms after the start.
   */
  discovery: z
    .object({
      firstProviderMs: nonNegative,
      allProvidersMs: nonNegative.optional(),
      providersFound: z.number().int().nonnegative(),
      connectedMs: nonNegative.optional(),
      /** Before the run: the newcomer's join, from its first dial to a warm routing table, ms. */
      joinedMs: nonNegative.optional(),
    })
    .optional(),
  /** Sources lost during the run (churn cells: a peer that left), when, undilated ms after the start. */
  lostSources: z.array(z.object({ atMs: nonNegative })).optional(),
  fidelity: RunFidelitySchema.optional(),
})

export const CellSchema = z.object({
  id: z.string().min(1),
  workload: WorkloadSchema,
  placement: PlacementSchema,
  distanceKm: nonNegative.optional(),
  /** Number of peers serving the cell (P2/P4). */
  k: z.number().int().positive().optional(),
  inFlight: z.number().int().positive(),
  chunkSizeBytes: z.number().int().positive(),
  /** W1 consumption target (MB/s) the consumer tries to sustain. */
  targetRateMBps: z.number().finite().positive().optional(),
  model: LinkModelSchema,
  /** The verdict's fixed comparison this cell stands for (absent: supplementary). */
  role: z.enum(['local', 'network', 'near', 'origin']).optional(),
  tag: z.string().optional(),
  /** Peers that left the network during each run, and when (a share of the ideal run time). */
  churn: z
    .object({ departures: z.number().int().nonnegative(), atShareOfRun: z.number().min(0).max(1) })
    .optional(),
  /** 'dht': the consumer found the providers on the DHT inside each run (scheduling cells). */
  discovery: z.enum(['dht']).optional(),
  /** What the residential peers' uplinks carried besides bwnode (src/net/uplink-load.ts). */
  load: z
    .object({
      crossTrafficShare: z.number().min(0).max(1),
      crossTrafficGreedy: z.boolean(),
      bufferMs: nonNegative,
    })
    .optional(),
  runs: z.array(RunSchema),
  /** Time dilation: the factor the runs used and, when it is above 1, the check at twice that. */
  dilation: z
    .object({
      factor: z.number().min(1),
      /** Factors tried and dropped because the cell was machine-bound at them. */
      rejected: z.array(z.number().min(1)),
      check: z
        .object({
          factor: z.number().min(1),
          runs: z.array(RunSchema),
          /** |median at 2K - median at K| / median at K, of the workload's primary metric. */
          moved: nonNegative,
        })
        .optional(),
    })
    .optional(),
  /** Set when the cell failed twice: its error, and no runs. */
  error: z.string().optional(),
  /** The label most runs got, and why (see FIDELITY_LABELS). */
  fidelity: z.object({ label: FidelityLabelSchema, reason: z.string() }).optional(),
})

/** A real provider of a live run, as the measuring node found and measured it. */
export const LiveProviderSchema = z.object({
  peerId: z.string(),
  /** The label its cells carry. */
  label: z.string(),
  addrs: z.array(z.string()),
  /** How it was found: the daemon measured from, a DHT provider record, or a daemon's connected peer. */
  foundBy: z.enum(['daemon', 'dht', 'connected']),
  /** libp2p ping round trips, ms, in the order taken. */
  pingsMs: z.array(nonNegative),
  /** Its signed offer from the DHT, when it had one. */
  offer: z
    .object({
      uplinkMbps: nonNegative,
      pricePerGiB: nonNegative,
      maxConcurrent: z.number().int().nonnegative(),
    })
    .nullable(),
})

/** What a live run measured against: the daemon, the dataset, the providers and how runs were sized. */
export const LiveRunSchema = z.object({
  daemon: z.string(),
  dataset: z.object({
    cid: z.string(),
    name: z.string(),
    bytes: nonNegative,
    chunks: z.number().int().nonnegative(),
  }),
  providers: z.array(LiveProviderSchema),
  /** How each workload's runs were sized, in words with the figures used. */
  sizing: z.array(z.string()),
  /** Credits the measuring node paid the providers, in total. */
  creditsSpent: nonNegative,
  /** Errors that ended a step of the run (a failed cell carries its own). */
  errors: z.array(z.string()),
  /** The daemon's emulated link, which the measuring node shared (a lab of hosts); absent on real links. */
  sharedLink: linkSchema.optional(),
})

export const ResultsSchema = z.object({
  schemaVersion: z.literal(RESULTS_SCHEMA_VERSION),
  startedAt: z.string(),
  config: ConfigSchema,
  machine: MachineSchema,
  versions: z.record(z.string(), z.string()),
  calibration: CalibrationSchema,
  cells: z.array(CellSchema),
  /** Set by a live run (mode live). */
  live: LiveRunSchema.optional(),
  /**
   * Live runs on kernel-shaped links (the netns lab: one namespace per node, tc tbf rates) combined
   * into these results to check the user-space emulator against: each run's providers and its
   * one-provider cells, unchanged (`experiment --combine`).
   */
  crossChecks: z
    .array(z.object({ startedAt: z.string(), live: LiveRunSchema, cells: z.array(CellSchema) }))
    .optional(),
})

export type Workload = z.infer<typeof WorkloadSchema>
export type Placement = z.infer<typeof PlacementSchema>
export type Mode = z.infer<typeof ModeSchema>
export type ExperimentConfig = z.infer<typeof ConfigSchema>
export type Machine = z.infer<typeof MachineSchema>
export type Calibration = z.infer<typeof CalibrationSchema>
export type LinkModel = z.infer<typeof LinkModelSchema>
export type Run = z.infer<typeof RunSchema>
export type Cell = z.infer<typeof CellSchema>
export type Results = z.infer<typeof ResultsSchema>
export type FidelityLabel = z.infer<typeof FidelityLabelSchema>
export type RunFidelity = z.infer<typeof RunFidelitySchema>
export type LiveRun = z.infer<typeof LiveRunSchema>
export type LiveProviderRecord = z.infer<typeof LiveProviderSchema>

export const LOCAL_PLACEMENTS: readonly Placement[] = ['P0-local-cold', 'P0-local-warm']
/** Placements where data comes from the shared-bandwidth network the claim is about. */
export const SHARED_PEER_PLACEMENTS: readonly Placement[] = ['P2-residential-peers', 'P4-origin-plus-peers']
export const ORIGIN_PLACEMENTS: readonly Placement[] = ['P3-origin']

/** Validates an untrusted value (e.g. a parsed results.json); throws ERR_RESULTS_INVALID with every issue. */
export function parseResults(value: unknown): Results {
  const parsed = ResultsSchema.safeParse(value)
  if (!parsed.success) {
    throw new BwnodeError(ERR.RESULTS_INVALID, `invalid results: ${z.prettifyError(parsed.error)}`)
  }
  return parsed.data
}
