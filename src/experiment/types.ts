/**
 * The results data model of the claim experiment. The runner fills a `Results` object, `writeReport()`
 * writes it to results.json, and `parseResults()` re-reads and validates it later, so a report can be
 * rebuilt from a stored run without re-running anything.
 */
import { z } from 'zod'
import { BwnodeError } from '../errors/index.ts'

/** Bump when a field changes meaning; `parseResults()` refuses other versions. */
export const RESULTS_SCHEMA_VERSION = 1

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
  /** Throughput with the emulator inserted at zero delay / throughput without it (1 = free). */
  zeroDelayOverheadRatio: nonNegative,
  rtt: z.array(z.object({ configuredMs: nonNegative, measuredMs: nonNegative })),
  rate: z.array(z.object({ configuredMbps: nonNegative, measuredMbps: nonNegative })),
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
  runs: z.array(RunSchema),
})

export const ResultsSchema = z.object({
  schemaVersion: z.literal(RESULTS_SCHEMA_VERSION),
  startedAt: z.string(),
  config: ConfigSchema,
  machine: MachineSchema,
  versions: z.record(z.string(), z.string()),
  calibration: CalibrationSchema,
  cells: z.array(CellSchema),
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

export const LOCAL_PLACEMENTS: readonly Placement[] = ['P0-local-cold', 'P0-local-warm']
/** Placements where data comes from the shared-bandwidth network the claim is about. */
export const SHARED_PEER_PLACEMENTS: readonly Placement[] = ['P2-residential-peers', 'P4-origin-plus-peers']
export const ORIGIN_PLACEMENTS: readonly Placement[] = ['P3-origin']

/** Validates an untrusted value (e.g. a parsed results.json); throws ERR_RESULTS_INVALID with every issue. */
export function parseResults(value: unknown): Results {
  const parsed = ResultsSchema.safeParse(value)
  if (!parsed.success) {
    throw new BwnodeError('ERR_RESULTS_INVALID', `invalid results: ${z.prettifyError(parsed.error)}`)
  }
  return parsed.data
}
