/**
 * runExperiment(): calibrates the link emulator, runs the matrix of cells (workload x placement x
 * knobs) over real in-process bwnode nodes on 127.0.0.1 with emulated links, and writes the
 * report. Everything lives in a temporary directory that is removed at the end.
 *
 * The consumer (a training machine) sits at the centre of the map. Providers are a datacentre peer
 * next to it, residential peers on a circle at each distance (started per distance, k of them
 * serving a cell), and a distant origin. Nodes are dialled directly: the DHT path is tested
 * elsewhere, the chunk protocol (ChunkSession, and the Fetcher for staging) is what is measured.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { arch, cpus, platform, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import type { LinkConfig } from '../config/schema.ts'
import { connectAndPing, stopAll, stopQuietly } from '../lab/swarm.ts'
import { TimeDilation } from '../net/dilation.ts'
import type { LinkEmulatorInit } from '../net/emulator.ts'
import { linkBetween } from '../net/link.ts'
import { LinkSwitch } from '../net/link-switch.ts'
import { UNLOADED, UplinkLoad } from '../net/uplink-load.ts'
import type { Bwnode } from '../node/bwnode.ts'
import { emulatedLink } from '../node/link-emulation.ts'
import { seededRandom } from '../util/random.ts'
import { medianOrUndefined } from '../util/stats.ts'
import { calibrate } from './calibrate.ts'
import { DhtDiscovery, joinThrough } from './discovery.ts'
import {
  cellLabel,
  classifyRun,
  FidelityMonitor,
  type IdealTransfer,
  idealTransfer,
  labelAfterDilationCheck,
  unmovedByDilation,
} from './fidelity.ts'
import {
  buildTemplate,
  datasetCid,
  openEmptyStore,
  openLocalStore,
  startNode,
  type Template,
  type TemplateDataset,
} from './nodes.ts'
import { writeReport } from './report.ts'
import {
  buildPlan,
  CELL_GROUPS,
  type CellGroup,
  type CellPlan,
  cellPaths,
  consumerLink,
  datacentreLink,
  groupPlan,
  originLink,
  placementPaths,
  residentialLink,
  type SourcePath,
} from './scenarios.ts'
import { type Cell, type LinkModel, RESULTS_SCHEMA_VERSION, type Results, type Run } from './types.ts'
import { DILATION_STABLE_SHARE, PRIMARY_METRICS, type WorkloadVerdict } from './verdict.ts'
import {
  type ConsumeMeasure,
  consume,
  type Lane,
  type ReadItem,
  sampleItems,
  sequentialItems,
  sessionLanes,
  stageFromStore,
  stageWithFetcher,
  storeLane,
} from './workloads.ts'

/** Home peers started together when a distance's swarm comes up. */
const PEER_START_BATCH = 4

export interface RunExperimentOptions {
  mode: 'quick' | 'full'
  /** Directory for results.json, report.md and charts/. */
  out: string
  seed?: number
  /**
   * Time dilation factor K for every emulated cell, or 'auto' (default): per cell, start from what
   * this machine's measured ceiling suggests and double K while the cell is machine-bound.
   */
  dilation?: number | 'auto'
  onProgress?: (line: string) => void
  /**
   * Stops the run between measurements: the nodes are stopped, the work dir (gigabytes of
   * datasets) is removed and the promise rejects with the signal's reason. No report is written.
   */
  signal?: AbortSignal
  /** Run groups of cells and their baselines only (e.g. ['load']); such a run decides no status. */
  only?: readonly CellGroup[]
  /** Groups left out of the core matrix's run (a --full run holds every group otherwise). */
  without?: readonly CellGroup[]
}

/** Highest dilation 'auto' tries; a cell still machine-bound there keeps that label. */
export const MAX_DILATION = 32
/** A scheduling cell's DHT lookup gives up after this long (real time at K=1), ms. */
const SCHEDULING_LOOKUP_TIMEOUT_MS = 30_000
/**
 * Auto dilation starts where the cell's configured capacity is at most this share of this
 * machine's measured chunk throughput (all of a cell's nodes share one process).
 */
const AUTO_DILATION_LOAD_SHARE = 0.25

export interface ExperimentOutcome {
  results: Results
  reportPath: string
  verdicts: WorkloadVerdict[]
}

export const DEFAULT_EXPERIMENT_SEED = 1

interface Provider {
  node: Bwnode
  kind: 'peer' | 'origin'
  label: string
  link: LinkConfig
  /** Ping RTT measured when the consumer connected, ms. */
  rttMs: number
  /** Takes the peer off the network and back (churn cells). */
  linkSwitch?: LinkSwitch
}

interface Context {
  seed: number
  dilation: TimeDilation
  monitor: FidelityMonitor
  /** Fixed factor, or undefined for auto. */
  fixedDilation: number | undefined
  /** Chunk throughput of two in-process nodes without emulation, MB/s (from calibration). */
  machineMBps: number
  settings: import('./scenarios.ts').ModeSettings
  template: Template
  workDir: string
  consumer: Bwnode
  datacentre: Provider
  origin: Provider
  residential: Provider[]
  log: (line: string) => void
  signal: AbortSignal | undefined
  /** Read by every residential peer's uplink; each cell sets its load condition here. */
  residentialLoad: UplinkLoad
  /** Peers a churn cell took off the network during the run in progress; back after it. */
  departed: Provider[]
  /** The consumer's emulator settings, for the newcomers of scheduling cells. */
  emulator: LinkEmulatorInit
}

/** A scheduling cell's consumer: a node that joined through the consumer just before the run. */
interface Newcomer {
  node: Bwnode
  /** From its first dial to its DHT warmed by a lookup, undilated ms (untimed by the run). */
  joinedMs: number
  close(): Promise<void>
}

export async function runExperiment(options: RunExperimentOptions): Promise<ExperimentOutcome> {
  const log = options.onProgress ?? (() => {})
  const seed = options.seed ?? DEFAULT_EXPERIMENT_SEED
  const plan =
    options.only !== undefined
      ? groupPlan(options.mode, options.only)
      : options.without !== undefined
        ? buildPlan(
            options.mode,
            CELL_GROUPS.filter((g) => !options.without?.includes(g)),
          )
        : buildPlan(options.mode)
  const startedAt = new Date().toISOString()
  const began = performance.now()
  const workDir = await mkdtemp(join(tmpdir(), 'bwnode-experiment-'))
  const nodes: Bwnode[] = []
  // A stream torn down mid-request can leave a rejection nobody awaits inside the protocol stack;
  // log it instead of letting it end a run of many minutes (the affected run fails and is retried).
  const onStray = (reason: unknown): void => log(`stray rejection: ${(reason as Error)?.message ?? reason}`)
  process.on('unhandledRejection', onStray)
  // An abort stops the nodes at once, so the run in progress fails now rather than at its end;
  // the checks between runs then keep it from being retried.
  let stopping: Promise<void> | undefined
  const onAbort = (): void => {
    stopping = stopAll(nodes)
  }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    log(
      `experiment ${options.mode}: seed ${seed}, ${plan.settings.repetitions} repetition(s) per deciding cell, work dir ${workDir}`,
    )
    const signal = options.signal
    signal?.throwIfAborted()
    const template = await buildTemplate(workDir, plan.datasets)
    signal?.throwIfAborted()
    log(
      `datasets: ${[...template.datasets.values()].map((d) => `${d.plan.id} ${(d.bytes / 1e6).toFixed(1)} MB`).join(', ')}`,
    )
    const fixedDilation =
      options.dilation === undefined || options.dilation === 'auto' ? undefined : options.dilation
    if (fixedDilation !== undefined && !(fixedDilation >= 1 && Number.isFinite(fixedDilation)))
      throw new RangeError(`dilation must be a number >= 1 or 'auto', got ${fixedDilation}`)
    const calibration = await calibrate({
      workDir,
      template,
      datasetId: 'shards-1m',
      pairs: calibrationPairs(plan),
      dilationFor: (pair, machineMBps) => fixedDilation ?? startingDilation([pair], machineMBps),
      zeroRounds: options.mode === 'quick' ? 3 : 7,
      onProgress: log,
      ...(signal === undefined ? {} : { signal }),
    })
    log(`calibration ${calibration.passed ? 'passed' : `FAILED: ${calibration.notes}`}`)
    signal?.throwIfAborted()

    const dilation = new TimeDilation(1)
    const monitor = new FidelityMonitor()
    const emulator = { dilation, probe: monitor }
    const consumer = await startNode({ dataDir: join(workDir, 'consumer'), link: consumerLink(), emulator })
    nodes.push(consumer)
    const residentialLoad = new UplinkLoad()
    const provider = async (
      name: string,
      kind: Provider['kind'],
      link: LinkConfig,
      load?: UplinkLoad,
    ): Promise<Provider> => {
      // home peers can leave the network (churn cells), so each gets a switch
      const linkSwitch = load === undefined ? undefined : new LinkSwitch()
      const node = await startNode({
        dataDir: join(workDir, name),
        link,
        template,
        emulator: load === undefined ? emulator : { ...emulator, load, linkSwitch },
      })
      nodes.push(node)
      const rttMs = await connectAndPing(consumer, node)
      return { node, kind, label: name, link, rttMs, ...(linkSwitch === undefined ? {} : { linkSwitch }) }
    }
    const ctx: Context = {
      seed,
      dilation,
      monitor,
      fixedDilation,
      machineMBps: calibration.machineMBps ?? 100,
      settings: plan.settings,
      template,
      workDir,
      consumer,
      datacentre: await provider('datacentre', 'peer', datacentreLink()),
      origin: await provider('origin', 'origin', originLink()),
      residential: [],
      log,
      signal,
      residentialLoad,
      departed: [],
      emulator,
    }
    log(`datacentre peer RTT ${ctx.datacentre.rttMs} ms, origin RTT ${ctx.origin.rttMs} ms`)

    const totalCells =
      plan.fixedCells.length + plan.distancesKm.reduce((n, d) => n + plan.cellsAtDistance(d).length, 0)
    const cells: Cell[] = []
    const runAll = async (cellPlans: CellPlan[]) => {
      for (const cellPlan of cellPlans) {
        signal?.throwIfAborted()
        const began = performance.now()
        const cell = await runCell(
          ctx,
          cellPlan,
          cellPlan.role === undefined ? plan.settings.supplementaryRepetitions : plan.settings.repetitions,
        )
        cells.push(cell)
        const wall = ((performance.now() - began) / 1000).toFixed(0)
        log(`[${cells.length}/${totalCells}] ${describeCell(cell)} (${wall} s)`)
      }
    }
    await runAll(plan.fixedCells)

    const kMax = Math.max(...plan.ks)
    for (const distanceKm of plan.distancesKm) {
      const peers: Provider[] = []
      try {
        // A start is mostly waiting on the disk and the first round trips: a few at a time.
        for (let first = 0; first < kMax; first += PEER_START_BATCH) {
          const batch = Array.from({ length: Math.min(PEER_START_BATCH, kMax - first) }, (_, j) => first + j)
          const started = await Promise.allSettled(
            batch.map((i) =>
              provider(
                `home-${distanceKm}km-${i}`,
                'peer',
                residentialLink(distanceKm, i, kMax),
                residentialLoad,
              ),
            ),
          )
          for (const outcome of started) if (outcome.status === 'fulfilled') peers.push(outcome.value)
          const failed = started.find((outcome) => outcome.status === 'rejected')
          if (failed !== undefined) throw failed.reason
        }
        ctx.residential = peers
        log(`${kMax} residential peers at ${distanceKm} km, RTT ${peers[0]?.rttMs} ms`)
        await runAll(plan.cellsAtDistance(distanceKm))
      } finally {
        await stopAll(peers.map((p) => p.node))
        for (const p of peers) nodes.splice(nodes.indexOf(p.node), 1)
        ctx.residential = []
      }
    }

    const results: Results = {
      schemaVersion: RESULTS_SCHEMA_VERSION,
      startedAt,
      config: {
        mode: options.mode,
        seed,
        repetitions: plan.settings.repetitions,
        knobs: {
          ...plan.knobs,
          dilation: fixedDilation ?? 'auto',
          supplementaryRepetitions: plan.settings.supplementaryRepetitions,
          dilationCheckRepetitions: plan.settings.dilationCheckRepetitions,
        },
      },
      machine: machineInfo(),
      versions: await versions(),
      calibration,
      cells,
    }
    const report = await writeReport(results, options.out)
    log(`experiment done in ${((performance.now() - began) / 1000).toFixed(1)} s: ${report.reportPath}`)
    return { results, reportPath: report.reportPath, verdicts: report.verdicts }
  } finally {
    process.off('unhandledRejection', onStray)
    options.signal?.removeEventListener('abort', onAbort)
    await stopping
    // stopping a node twice is harmless, and nodes may have started after the abort
    await stopAll(nodes)
    await rm(workDir, { recursive: true, force: true }).catch(() => {})
  }
}

function describeCell(cell: Cell): string {
  const run = cell.runs[Math.floor(cell.runs.length / 2)]
  const where = [
    cell.distanceKm !== undefined ? `${cell.distanceKm} km` : '',
    cell.k !== undefined ? `k=${cell.k}` : '',
    `in flight ${cell.inFlight}`,
    `chunk ${cell.chunkSizeBytes / 1024} KiB`,
  ]
    .filter(Boolean)
    .join(' ')
  if (run === undefined) return `${cell.workload} ${cell.placement} ${where}: no runs`
  const extra = run.stallFraction !== undefined ? `, stall ${(run.stallFraction * 100).toFixed(1)}%` : ''
  const k = cell.dilation !== undefined ? `, K=${cell.dilation.factor}` : ''
  const moved =
    cell.dilation?.check !== undefined
      ? ` (moved ${(cell.dilation.check.moved * 100).toFixed(1)}% at 2K)`
      : ''
  return (
    `${cell.workload} ${cell.placement} ${where}: ${run.throughputMBps.toFixed(2)} MB/s, ` +
    `${run.seconds.toFixed(2)} s, TTFB ${run.ttfbMs.toFixed(1)} ms${extra}; ${cell.fidelity?.label ?? '?'}${k}${moved}`
  )
}

/** The machine a run was measured on, for results.json. */
export function machineInfo(): Results['machine'] {
  return {
    cpus: cpus().length,
    memGiB: Number((totalmem() / 2 ** 30).toFixed(2)),
    platform: `${platform()} ${arch()}`,
    node: process.version,
  }
}

export async function versions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version }
  for (const [name, path] of [
    ['bwnode', '../../package.json'],
    ['libp2p', '../../node_modules/libp2p/package.json'],
    ['@chainsafe/libp2p-yamux', '../../node_modules/@chainsafe/libp2p-yamux/package.json'],
    ['@chainsafe/libp2p-noise', '../../node_modules/@chainsafe/libp2p-noise/package.json'],
  ] as const) {
    try {
      const pkg = JSON.parse(await readFile(new URL(path, import.meta.url), 'utf8')) as { version?: string }
      if (typeof pkg.version === 'string') out[name] = pkg.version
    } catch {
      // a missing package only loses a line of the report
    }
  }
  return out
}

// ---------- cells ----------

function cellId(p: CellPlan, chunkSizeBytes: number): string {
  return [
    p.tag ?? '',
    p.workload.slice(0, 2),
    p.placement.replace(/-.*$/, '') + (p.placement.startsWith('P0') ? p.placement.slice(2) : ''),
    p.distanceKm !== undefined ? `${p.distanceKm}km` : '',
    p.k !== undefined ? `k${p.k}` : '',
    `if${p.inFlight}`,
    `${chunkSizeBytes / 1024}k`,
  ]
    .filter(Boolean)
    .join('-')
}

function providersOf(ctx: Context, p: CellPlan): Provider[] {
  switch (p.placement) {
    case 'P1-datacentre-peer':
      return [ctx.datacentre]
    case 'P2-residential-peers':
      return ctx.residential.slice(0, p.k ?? 1)
    case 'P3-origin':
      return [ctx.origin]
    case 'P4-origin-plus-peers':
      return [ctx.origin, ...ctx.residential.slice(0, p.k ?? 1)]
    default:
      return []
  }
}

/** The modelled path from the cell's (first) peer provider to the consumer, from linkBetween. */
function modelOf(ctx: Context, p: CellPlan): LinkModel {
  const providers = providersOf(ctx, p)
  const representative = providers.find((x) => x.kind === 'peer') ?? providers[0]
  if (representative === undefined) return { oneWayDelayMs: { propagationMs: 0, accessMs: 0 }, rateMbps: 0 }
  const path = linkBetween(emulatedLink(representative.link), emulatedLink(consumerLink()))
  return {
    oneWayDelayMs: { propagationMs: path.parts.propagationMs, accessMs: path.parts.accessMs },
    rateMbps: Number.isFinite(path.rateMbps) ? path.rateMbps : 0,
  }
}

function distanceOf(ctx: Context, p: CellPlan): number | undefined {
  if (p.placement === 'P1-datacentre-peer' || p.placement === 'P3-origin') {
    const link = p.placement === 'P1-datacentre-peer' ? ctx.datacentre.link : ctx.origin.link
    return Math.hypot(link.position.x, link.position.y)
  }
  return p.distanceKm
}

/** Every source path any cell of the plan uses (calibration checks each distinct one). */
function calibrationPairs(plan: ReturnType<typeof buildPlan>): SourcePath[] {
  const cells = [...plan.fixedCells, ...plan.distancesKm.flatMap((d) => plan.cellsAtDistance(d))]
  return cells.flatMap((c) => placementPaths(c.placement, c.distanceKm, c.k))
}

function isLocal(p: CellPlan): boolean {
  return p.placement === 'P0-local-cold' || p.placement === 'P0-local-warm'
}

/**
 * What a cell moves at most, MB/s (undilated): its sources' configured rates together, or the
 * consumer's target when that is lower (a paced stream needs no dilation to be link-true).
 */
function capacityMBps(paths: SourcePath[], targetBytesPerSec?: number, window?: number): number {
  // a source delivers at most its link rate, and at most its request window per round trip
  const links = paths.reduce(
    (sum, x) =>
      sum +
      Math.min(
        x.rateBytesPerSec,
        window === undefined ? Number.POSITIVE_INFINITY : window / (x.rttMs / 1000),
      ),
    0,
  )
  return Math.min(links, targetBytesPerSec ?? Number.POSITIVE_INFINITY) / 1e6
}

/** The smallest power of two that keeps the cell's emulated traffic within this machine's share. */
export function startingDilation(
  paths: SourcePath[],
  machineMBps: number,
  targetBytesPerSec?: number,
  windowBytes?: number,
): number {
  const needed =
    capacityMBps(paths, targetBytesPerSec, windowBytes) /
    (AUTO_DILATION_LOAD_SHARE * Math.max(machineMBps, 1))
  let k = 1
  while (k < needed && k < MAX_DILATION) k *= 2
  return k
}

/** Each run's figure in its workload's primary metric (runs without one left out). */
function primaryValues(p: CellPlan, runs: Run[]): number[] {
  const metric = PRIMARY_METRICS[p.workload]
  return runs.map((r) => metric.value(r)).filter((v): v is number => v !== undefined && Number.isFinite(v))
}

function primaryMedian(p: CellPlan, runs: Run[]): number | undefined {
  return medianOrUndefined(primaryValues(p, runs))
}

async function runCell(ctx: Context, p: CellPlan, repetitions: number): Promise<Cell> {
  const dataset = ctx.template.datasets.get(p.datasetId)
  if (dataset === undefined) throw new Error(`cell needs dataset ${p.datasetId}, not in the template`)
  const model = modelOf(ctx, p)
  const distanceKm = distanceOf(ctx, p)
  const paths = cellPaths(p)
  const once = async (rep: number, k: number): Promise<Run> => {
    // A connection lost under machine load fails one run, not the whole experiment: retry it once.
    ctx.signal?.throwIfAborted()
    try {
      return await runOnce(ctx, p, dataset, model, rep, k)
    } catch (err) {
      ctx.signal?.throwIfAborted()
      ctx.log(`run ${rep} of ${p.workload} ${p.placement} failed (${(err as Error).message}); retrying`)
      return await runOnce(ctx, p, dataset, model, rep, k)
    }
  }
  // the residential peers' uplinks carry this cell's load, and nothing once it is done
  ctx.residentialLoad.settings = p.load ?? UNLOADED
  try {
    return await measureCell(ctx, p, repetitions, dataset, model, distanceKm, paths, once)
  } catch (err) {
    ctx.signal?.throwIfAborted()
    // a cell that fails twice is reported as failed, with its error; the experiment goes on
    const message = (err as Error).message ?? String(err)
    ctx.log(`${p.workload} ${p.placement}: failed (${message})`)
    return { ...cellHeader(p, dataset, model, distanceKm), runs: [], error: message }
  } finally {
    ctx.residentialLoad.settings = UNLOADED
  }
}

function cellHeader(
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
  distanceKm: number | undefined,
): Omit<Cell, 'runs'> {
  return {
    id: cellId(p, dataset.plan.chunkSizeBytes),
    workload: p.workload,
    placement: p.placement,
    ...(distanceKm !== undefined ? { distanceKm } : {}),
    ...(p.k !== undefined ? { k: p.k } : {}),
    inFlight: p.inFlight,
    chunkSizeBytes: dataset.plan.chunkSizeBytes,
    ...(p.targetBytesPerSec !== undefined ? { targetRateMBps: p.targetBytesPerSec / 1e6 } : {}),
    model,
    ...(p.role !== undefined ? { role: p.role } : {}),
    ...(p.tag !== undefined ? { tag: p.tag } : {}),
    ...(p.load !== undefined ? { load: p.load } : {}),
    ...(p.churn !== undefined ? { churn: p.churn } : {}),
    ...(p.discovery !== undefined ? { discovery: p.discovery } : {}),
  }
}

async function measureCell(
  ctx: Context,
  p: CellPlan,
  repetitions: number,
  dataset: TemplateDataset,
  model: LinkModel,
  distanceKm: number | undefined,
  paths: SourcePath[],
  once: (rep: number, k: number) => Promise<Run>,
): Promise<Cell> {
  const local = isLocal(p)
  let k = local
    ? 1
    : (ctx.fixedDilation ??
      startingDilation(paths, ctx.machineMBps, p.targetBytesPerSec, p.inFlight * dataset.plan.chunkSizeBytes))
  const rejected: number[] = []
  const runs: Run[] = []
  /** The first run at the K rejected last, to see whether doubling K moved anything. */
  let atHalfK: Run | undefined
  for (let rep = 0; rep < repetitions; rep++) {
    let run = await once(rep, k)
    if (run.fidelity !== undefined && atHalfK?.fidelity !== undefined) {
      const relabelled = unmovedByDilation(run.fidelity, atHalfK.fidelity, DILATION_STABLE_SHARE)
      if (relabelled !== undefined) {
        if (rep === 0) ctx.log(`${p.workload} ${p.placement}: ${relabelled.reason}; keeping K=${k}`)
        run = { ...run, fidelity: relabelled }
      }
    }
    // auto: a machine-bound first run means this K still leaves the CPU in charge; double it
    if (
      rep === 0 &&
      !local &&
      ctx.fixedDilation === undefined &&
      run.fidelity?.label === 'machine-bound' &&
      k < MAX_DILATION
    ) {
      atHalfK = run
      ctx.log(
        `${p.workload} ${p.placement}: machine-bound at K=${k} (${run.fidelity.reason}); trying K=${k * 2}`,
      )
      rejected.push(k)
      k *= 2
      rep = -1
      continue
    }
    runs.push(run)
  }
  let dilation: Cell['dilation']
  if (!local) {
    dilation = { factor: k, rejected }
    const checked = p.role !== undefined || !ctx.settings.checkDecidingCellsOnly
    if (k > 1 && checked && ctx.settings.dilationCheckRepetitions > 0) {
      const checkRuns: Run[] = []
      for (let rep = 0; rep < ctx.settings.dilationCheckRepetitions; rep++)
        checkRuns.push(await once(rep, k * 2))
      const atK = primaryMedian(p, runs)
      const at2K = primaryMedian(p, checkRuns)
      const moved =
        atK !== undefined && at2K !== undefined && atK !== 0 ? Math.abs(at2K - atK) / Math.abs(atK) : 0
      dilation.check = { factor: k * 2, runs: checkRuns, moved }
    }
  }
  const check = dilation?.check
  const fidelity =
    check === undefined
      ? cellLabel(runs)
      : labelAfterDilationCheck(
          cellLabel(runs),
          {
            atK: primaryValues(p, runs),
            at2K: primaryValues(p, check.runs),
            factor: check.factor,
            moved: check.moved,
            better: PRIMARY_METRICS[p.workload].better,
          },
          DILATION_STABLE_SHARE,
        )
  return {
    ...cellHeader(p, dataset, model, distanceKm),
    runs,
    ...(dilation !== undefined ? { dilation } : {}),
    ...(fidelity !== undefined ? { fidelity } : {}),
  }
}

function itemsFor(ctx: Context, p: CellPlan, dataset: TemplateDataset, rep: number): ReadItem[] {
  if (p.workload === 'W1-random-samples') {
    return sampleItems(dataset.manifest, seededRandom(ctx.seed * 1000 + rep))
  }
  return sequentialItems(dataset.manifest, p.itemLimit)
}

/** What the configured links allow for this run, undilated; undefined for local storage. */
function idealOf(p: CellPlan, items: ReadItem[]): IdealTransfer | undefined {
  if (isLocal(p)) return undefined
  return idealTransfer({
    paths: cellPaths(p),
    itemBytes: items.map((i) => i.bytes),
    inFlight: p.inFlight,
    ...(p.targetBytesPerSec !== undefined ? { targetBytesPerSec: p.targetBytesPerSec } : {}),
  })
}

function shortestRttMs(p: CellPlan): number {
  const paths = cellPaths(p)
  return paths.length === 0 ? 0 : Math.min(...paths.map((x) => x.rttMs))
}

/**
 * One repetition at dilation `k`: the emulated links run K times slower (rates / K, delays x K), the
 * consumer's target with them, and every figure is converted back to undilated time before it is
 * returned, with the fidelity guard's label.
 */
async function runOnce(
  ctx: Context,
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
  rep: number,
  k: number,
): Promise<Run> {
  // a scheduling cell's consumer joins before the clock starts, as a node joins from its config
  const newcomer = p.discovery === 'dht' ? await joinNewcomer(ctx) : undefined
  ctx.dilation.factor = k
  const span = ctx.monitor.begin()
  let measured: Awaited<ReturnType<typeof measureOnce>>
  try {
    measured = await measureOnce(ctx, p, dataset, model, rep, k, newcomer)
  } finally {
    // a failed run must not leave the links slowed for the next connect (handshakes run undilated)
    ctx.dilation.factor = 1
    await bringBack(ctx)
    await newcomer?.close()
  }
  const figures = span.end()
  const { run, items } = measured
  const ideal = idealOf(p, items)
  const fidelity = classifyRun({
    figures,
    dilation: k,
    cpus: cpus().length,
    seconds: run.seconds,
    ...(ideal !== undefined ? { ideal } : {}),
    rttMs: shortestRttMs(p),
  })
  return { ...run, fidelity }
}

async function measureOnce(
  ctx: Context,
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
  rep: number,
  k: number,
  newcomer?: Newcomer,
): Promise<{ run: Run; items: ReadItem[] }> {
  const staging = p.workload === 'W4-bulk-staging'
  const items = staging ? sequentialItems(dataset.manifest) : itemsFor(ctx, p, dataset, rep)
  const churn = scheduleChurn(ctx, p, items, rep, k)
  try {
    if (!staging) return await measureItems(ctx, p, model, rep, k, items, newcomer && { newcomer, dataset })
    const run = isLocal(p)
      ? await stageLocally(ctx, p, dataset, rep)
      : await stageRemotely(ctx, p, dataset, model, k, newcomer)
    return { run, items }
  } finally {
    churn.cancel()
  }
}

/**
 * Churn cells: the planned peers leave the network at their share of what the links allow for the
 * run (in real time: x K), chosen by the seed; they stay away until the run is over.
 */
function scheduleChurn(ctx: Context, p: CellPlan, items: ReadItem[], rep: number, k: number) {
  const plan = p.churn
  const ideal = idealOf(p, items)
  if (plan === undefined || ideal === undefined) return { cancel: () => {} }
  const candidates = providersOf(ctx, p).filter((x) => x.kind === 'peer' && x.linkSwitch !== undefined)
  const random = seededRandom(ctx.seed * 7919 + rep)
  const leaving: Provider[] = []
  while (leaving.length < Math.min(plan.departures, candidates.length)) {
    const pick = candidates[Math.floor(random() * candidates.length)]!
    if (!leaving.includes(pick)) leaving.push(pick)
  }
  const timer = setTimeout(
    () => {
      for (const x of leaving) {
        ctx.departed.push(x)
        x.linkSwitch?.down()
      }
    },
    ideal.seconds * 1000 * k * plan.atShareOfRun,
  )
  return { cancel: () => clearTimeout(timer) }
}

/** Peers that left during the run come back, and the consumer connects to them again. */
async function bringBack(ctx: Context): Promise<void> {
  const back = ctx.departed.splice(0)
  for (const x of back) x.linkSwitch?.up()
  await Promise.all(back.map((x) => connectAndPing(ctx.consumer, x.node, 1)))
}

async function measureItems(
  ctx: Context,
  p: CellPlan,
  model: LinkModel,
  rep: number,
  k: number,
  items: ReadItem[],
  /** Scheduling cells: the newcomer finds the providers on the DHT and dials them, on the clock. */
  discovering?: { newcomer: Newcomer; dataset: TemplateDataset },
): Promise<{ run: Run; items: ReadItem[] }> {
  const local = isLocal(p)
  const consumeWith = (lanes: Lane[]) =>
    consume({
      items,
      lanes,
      latencyScale: 1 / k,
      failover: p.churn !== undefined,
      ...(p.prefetchDepth !== undefined ? { prefetchDepth: p.prefetchDepth } : {}),
      ...(p.targetBytesPerSec !== undefined ? { targetBytesPerSec: p.targetBytesPerSec / k } : {}),
    })
  let measure: ConsumeMeasure
  /** Scheduling cells: ms (dilated) from the start of the lookup to every session open. */
  let scheduledMs = 0
  let discovery: Run['discovery']
  if (local) {
    measure = await withLocalStore(ctx, p, rep, (store) => consumeWith([storeLane(store, p.inFlight)]))
  } else {
    const providers = providersOf(ctx, p)
    let walk: DhtDiscovery | undefined
    if (discovering !== undefined) {
      walk = new DhtDiscovery(
        discovering.newcomer.node,
        datasetCid(discovering.dataset),
        providers.map((x) => x.node),
      )
      await walk.findAll(ctx.signal ?? new AbortController().signal)
    }
    const { lanes, close } = await sessionLanes(
      discovering?.newcomer.node.libp2p ?? ctx.consumer.libp2p,
      providers.map((x) => ({
        peerId: x.node.peerId,
        kind: x.kind,
        label: x.label,
        // What the provider would advertise in its offer: its uplink (in dilated time).
        ...(x.link.uplinkMbps > 0 ? { expectedBytesPerSec: (x.link.uplinkMbps * 1e6) / 8 / k } : {}),
      })),
      p.inFlight,
      k,
    )
    if (walk !== undefined && discovering !== undefined) {
      scheduledMs = walk.elapsedMs(1)
      discovery = { ...walk.times(k)!, connectedMs: scheduledMs / k, joinedMs: discovering.newcomer.joinedMs }
    }
    try {
      measure = await consumeWith(lanes)
    } finally {
      await close()
    }
  }
  const paced = p.workload === 'W1-random-samples' || p.workload === 'W3-token-stream'
  // a scheduling run's clock starts at the lookup: finding and dialling the providers count
  const seconds = (measure.seconds + scheduledMs / 1000) / k
  const ttfbMs = (measure.ttfbMs + scheduledMs) / k
  return {
    items,
    run: {
      seconds,
      bytes: measure.bytes,
      throughputMBps: measure.bytes / seconds / 1e6,
      ttfbMs,
      firstChunkMs: (measure.firstChunkMs + scheduledMs) / k,
      ...(measure.steadyBytesPerSec !== undefined
        ? { steadyMBps: (measure.steadyBytesPerSec * k) / 1e6 }
        : {}),
      latencyHistogram: measure.histogram.encode(),
      ...(p.workload === 'W1-random-samples' ? { epochSeconds: seconds } : {}),
      ...(paced ? { stallFraction: Math.min(1, measure.stallSeconds / measure.seconds) } : {}),
      originBytes: measure.bytesByKind.origin,
      peerBytes: measure.bytesByKind.peer,
      ...(local ? {} : { protocolMs: protocolOverheadMs(ttfbMs, model) }),
      ...(measure.lostLanes.length > 0
        ? { lostSources: measure.lostLanes.map((l) => ({ atMs: (l.atMs + scheduledMs) / k })) }
        : {}),
      ...(discovery !== undefined ? { discovery } : {}),
    },
  }
}

/** Starts a scheduling cell's consumer: an empty node on the consumer's link, joined through the consumer. */
async function joinNewcomer(ctx: Context): Promise<Newcomer> {
  const dataDir = join(ctx.workDir, `newcomer-${Math.random().toString(36).slice(2)}`)
  const node = await startNode({ dataDir, link: consumerLink(), emulator: ctx.emulator })
  const close = async () => {
    await stopQuietly(node)
    await rm(dataDir, { recursive: true, force: true }).catch(() => {})
  }
  try {
    return { node, joinedMs: await joinThrough(node, ctx.consumer, ctx.signal), close }
  } catch (err) {
    await close()
    throw err
  }
}

/**
 * The first request's time to first byte minus the modelled round trip: what the stack and the
 * protocol add to one request (stream setup is done before the clock starts).
 */
function protocolOverheadMs(ttfbMs: number, model: LinkModel): number {
  const rtt = 2 * (model.oneWayDelayMs.propagationMs + model.oneWayDelayMs.accessMs)
  return Math.max(0, ttfbMs - rtt)
}

/**
 * P0 reads through a ContentStore over its own copy of the data. Cold: a fresh copy whose chunk
 * files this process has not read yet (the page cache cannot be dropped without root, and the copy
 * itself may leave pages cached, so "cold" is an upper bound on local speed from disk). Warm: the
 * same copy read once untimed first.
 */
async function withLocalStore<T>(
  ctx: Context,
  p: CellPlan,
  rep: number,
  run: (store: import('../store/content-store.ts').ContentStore) => Promise<T>,
): Promise<T> {
  const dir = join(
    ctx.workDir,
    `local-${p.placement}-${p.workload}-${rep}-${Math.random().toString(36).slice(2)}`,
  )
  const local = await openLocalStore(ctx.template, dir)
  try {
    if (p.placement === 'P0-local-warm') {
      const dataset = ctx.template.datasets.get(p.datasetId)
      if (dataset !== undefined) {
        await consume({
          items: sequentialItems(dataset.manifest),
          lanes: [storeLane(local.store, p.inFlight)],
        })
      }
    }
    return await run(local.store)
  } finally {
    await local.close()
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }
}

/** W4 on P0: copy the dataset from the local store into an empty one, chunk by chunk, as staging does. */
async function stageLocally(ctx: Context, p: CellPlan, dataset: TemplateDataset, rep: number): Promise<Run> {
  const target = join(ctx.workDir, `stage-${rep}-${Math.random().toString(36).slice(2)}`)
  const destination = await openEmptyStore(target)
  try {
    return await withLocalStore(ctx, p, rep, async (source) => {
      const { seconds, measure } = await stageFromStore(
        source,
        destination.store,
        datasetCid(dataset),
        dataset.manifest,
        p.inFlight,
      )
      return {
        seconds,
        bytes: measure.bytes,
        throughputMBps: measure.bytes / seconds / 1e6,
        ttfbMs: measure.ttfbMs,
        latencyHistogram: measure.histogram.encode(),
        originBytes: 0,
        peerBytes: 0,
      }
    })
  } finally {
    await destination.close()
    await rm(target, { recursive: true, force: true }).catch(() => {})
  }
}

/** The configured RTT from a provider to the consumer, undilated ms. */
function pathRttMs(x: Provider): number {
  return 2 * linkBetween(emulatedLink(x.link), emulatedLink(consumerLink())).oneWayDelayMs
}

/** W4 from peers and/or the origin: the consumer's Fetcher stages the dataset into its store. */
async function stageRemotely(
  ctx: Context,
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
  k: number,
  newcomer?: Newcomer,
): Promise<Run> {
  const cid = datasetCid(dataset)
  const providers = providersOf(ctx, p)
  const consumer = newcomer?.node ?? ctx.consumer
  const walk =
    newcomer === undefined
      ? undefined
      : new DhtDiscovery(
          newcomer.node,
          cid,
          providers.map((x) => x.node),
        )
  try {
    const m = await stageWithFetcher(
      consumer.peerId,
      consumer.libp2p,
      consumer.store,
      cid,
      // the fetcher runs in real time: its hint is the dilated round trip
      providers.map((x) => ({
        peerId: x.node.peerId,
        kind: x.kind,
        rttMs: Math.max(pathRttMs(x) * k, 0.1),
        // the offer's uplink, on the dilated clock the fetcher runs on
        ...(x.link.uplinkMbps > 0 ? { offeredBytesPerSec: (x.link.uplinkMbps * 1e6) / 8 / k } : {}),
      })),
      p.inFlight,
      1 / k,
      undefined,
      undefined,
      walk === undefined
        ? undefined
        : {
            findProviders: (signal) => walk.providers(signal),
            timeoutMs: SCHEDULING_LOOKUP_TIMEOUT_MS * k,
          },
    )
    const times = walk?.times(k)
    const discovery = times === undefined ? undefined : { ...times, joinedMs: newcomer!.joinedMs }
    const seconds = m.result.seconds / k
    const ttfbMs = m.ttfbMs / k
    const firstChunkMs = m.firstChunkMs / k
    return {
      seconds,
      bytes: m.result.fetchedBytes,
      throughputMBps: m.result.fetchedBytes / seconds / 1e6,
      ttfbMs,
      firstChunkMs,
      ...(m.steadyBytesPerSec !== undefined ? { steadyMBps: (m.steadyBytesPerSec * k) / 1e6 } : {}),
      latencyHistogram: m.histogram.encode(),
      originBytes: m.originBytes,
      peerBytes: m.peerBytes,
      protocolMs: protocolOverheadMs(ttfbMs, model),
      ...(m.result.losses.length > 0
        ? { lostSources: m.result.losses.map((l) => ({ atMs: l.lostAtMs / k })) }
        : {}),
      ...(discovery !== undefined ? { discovery } : {}),
    }
  } finally {
    // The next repetition must stage from scratch, not resume.
    await consumer.store.remove(cid).catch(() => {})
  }
}
