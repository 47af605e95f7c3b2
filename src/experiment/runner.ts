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
import { seededRandom } from '../latency/random.ts'
import { linkBetween } from '../net/link.ts'
import { type Bwnode, emulatedLink } from '../node/bwnode.ts'
import { calibrate } from './calibrate.ts'
import {
  buildTemplate,
  connect,
  datasetCid,
  openEmptyStore,
  openLocalStore,
  startNode,
  stopAll,
  type Template,
  type TemplateDataset,
} from './nodes.ts'
import { writeReport } from './report.ts'
import {
  buildPlan,
  type CellPlan,
  consumerLink,
  datacentreLink,
  originLink,
  residentialLink,
} from './scenarios.ts'
import { type Cell, type LinkModel, RESULTS_SCHEMA_VERSION, type Results, type Run } from './types.ts'
import type { WorkloadVerdict } from './verdict.ts'
import {
  type ConsumeMeasure,
  consume,
  type Lane,
  type ReadItem,
  sampleItems,
  sequentialItems,
  sessionLanes,
  stageWithFetcher,
  storeLane,
} from './workloads.ts'

export interface RunExperimentOptions {
  mode: 'quick' | 'full'
  /** Directory for results.json, report.md and charts/. */
  out: string
  seed?: number
  onProgress?: (line: string) => void
}

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
}

interface Context {
  seed: number
  template: Template
  workDir: string
  consumer: Bwnode
  datacentre: Provider
  origin: Provider
  residential: Provider[]
  log: (line: string) => void
}

export async function runExperiment(options: RunExperimentOptions): Promise<ExperimentOutcome> {
  const log = options.onProgress ?? (() => {})
  const seed = options.seed ?? DEFAULT_EXPERIMENT_SEED
  const plan = buildPlan(options.mode)
  const startedAt = new Date().toISOString()
  const began = performance.now()
  const workDir = await mkdtemp(join(tmpdir(), 'bwnode-experiment-'))
  const nodes: Bwnode[] = []
  // A stream torn down mid-request can leave a rejection nobody awaits inside the protocol stack;
  // log it instead of letting it end a run of many minutes (the affected run fails and is retried).
  const onStray = (reason: unknown): void => log(`stray rejection: ${(reason as Error)?.message ?? reason}`)
  process.on('unhandledRejection', onStray)
  try {
    log(
      `experiment ${options.mode}: seed ${seed}, ${plan.repetitions} repetition(s) per cell, work dir ${workDir}`,
    )
    const template = await buildTemplate(workDir, plan.datasets)
    log(
      `datasets: ${[...template.datasets.values()].map((d) => `${d.plan.id} ${(d.bytes / 1e6).toFixed(1)} MB`).join(', ')}`,
    )
    const calibration = await calibrate({ workDir, template, datasetId: 'shards-1m', onProgress: log })
    log(`calibration ${calibration.passed ? 'passed' : `FAILED: ${calibration.notes}`}`)

    const consumer = await startNode({ dataDir: join(workDir, 'consumer'), link: consumerLink() })
    nodes.push(consumer)
    const provider = async (name: string, kind: Provider['kind'], link: LinkConfig): Promise<Provider> => {
      const node = await startNode({ dataDir: join(workDir, name), link, template })
      nodes.push(node)
      const rttMs = await connect(consumer, node)
      return { node, kind, label: name, link, rttMs }
    }
    const ctx: Context = {
      seed,
      template,
      workDir,
      consumer,
      datacentre: await provider('datacentre', 'peer', datacentreLink()),
      origin: await provider('origin', 'origin', originLink()),
      residential: [],
      log,
    }
    log(`datacentre peer RTT ${ctx.datacentre.rttMs} ms, origin RTT ${ctx.origin.rttMs} ms`)

    const totalCells =
      plan.fixedCells.length + plan.distancesKm.reduce((n, d) => n + plan.cellsAtDistance(d).length, 0)
    const cells: Cell[] = []
    const runAll = async (cellPlans: CellPlan[]) => {
      for (const cellPlan of cellPlans) {
        const cell = await runCell(ctx, cellPlan, plan.repetitions)
        cells.push(cell)
        log(`[${cells.length}/${totalCells}] ${describeCell(cell)}`)
      }
    }
    await runAll(plan.fixedCells)

    const kMax = Math.max(...plan.ks)
    for (const distanceKm of plan.distancesKm) {
      const peers: Provider[] = []
      try {
        for (let i = 0; i < kMax; i++) {
          peers.push(
            await provider(`home-${distanceKm}km-${i}`, 'peer', residentialLink(distanceKm, i, kMax)),
          )
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
      config: { mode: options.mode, seed, repetitions: plan.repetitions, knobs: plan.knobs },
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
  return (
    `${cell.workload} ${cell.placement} ${where}: ${run.throughputMBps.toFixed(2)} MB/s, ` +
    `${run.seconds.toFixed(2)} s, TTFB ${run.ttfbMs.toFixed(1)} ms${extra}`
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

async function runCell(ctx: Context, p: CellPlan, repetitions: number): Promise<Cell> {
  const dataset = ctx.template.datasets.get(p.datasetId)
  if (dataset === undefined) throw new Error(`cell needs dataset ${p.datasetId}, not in the template`)
  const model = modelOf(ctx, p)
  const distanceKm = distanceOf(ctx, p)
  const runs: Run[] = []
  for (let rep = 0; rep < repetitions; rep++) {
    // A connection lost under machine load fails one run, not the whole experiment: retry it once.
    try {
      runs.push(await runOnce(ctx, p, dataset, model, rep))
    } catch (err) {
      ctx.log(`run ${rep} of ${p.workload} ${p.placement} failed (${(err as Error).message}); retrying`)
      runs.push(await runOnce(ctx, p, dataset, model, rep))
    }
  }
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
    runs,
  }
}

function itemsFor(ctx: Context, p: CellPlan, dataset: TemplateDataset, rep: number): ReadItem[] {
  if (p.workload === 'W1-random-samples') {
    return sampleItems(dataset.manifest, seededRandom(ctx.seed * 1000 + rep))
  }
  return sequentialItems(dataset.manifest, p.itemLimit)
}

async function runOnce(
  ctx: Context,
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
  rep: number,
): Promise<Run> {
  const local = p.placement === 'P0-local-cold' || p.placement === 'P0-local-warm'
  if (p.workload === 'W4-bulk-staging') {
    return local ? stageLocally(ctx, p, dataset, rep) : stageRemotely(ctx, p, dataset, model)
  }
  const items = itemsFor(ctx, p, dataset, rep)
  const consumeWith = (lanes: Lane[]) =>
    consume({
      items,
      lanes,
      ...(p.prefetchDepth !== undefined ? { prefetchDepth: p.prefetchDepth } : {}),
      ...(p.targetBytesPerSec !== undefined ? { targetBytesPerSec: p.targetBytesPerSec } : {}),
    })
  let measure: ConsumeMeasure
  if (local) {
    measure = await withLocalStore(ctx, p, rep, (store) => consumeWith([storeLane(store, p.inFlight)]))
  } else {
    const { lanes, close } = await sessionLanes(
      ctx.consumer.libp2p,
      providersOf(ctx, p).map((x) => ({
        peerId: x.node.peerId,
        kind: x.kind,
        label: x.label,
        // What the provider would advertise in its offer: its uplink.
        ...(x.link.uplinkMbps > 0 ? { expectedBytesPerSec: (x.link.uplinkMbps * 1e6) / 8 } : {}),
      })),
      p.inFlight,
    )
    try {
      measure = await consumeWith(lanes)
    } finally {
      await close()
    }
  }
  const paced = p.workload === 'W1-random-samples' || p.workload === 'W3-token-stream'
  return {
    seconds: measure.seconds,
    bytes: measure.bytes,
    throughputMBps: measure.bytes / measure.seconds / 1e6,
    ttfbMs: measure.ttfbMs,
    latencyHistogram: measure.histogram.encode(),
    ...(p.workload === 'W1-random-samples' ? { epochSeconds: measure.seconds } : {}),
    ...(paced ? { stallFraction: Math.min(1, measure.stallSeconds / measure.seconds) } : {}),
    originBytes: measure.bytesByKind.origin,
    peerBytes: measure.bytesByKind.peer,
    ...(local ? {} : { protocolMs: protocolOverheadMs(measure.ttfbMs, model) }),
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
      const cid = datasetCid(dataset)
      const started = performance.now()
      const manifestBytes = await source.getManifestBytes(cid)
      if (manifestBytes === undefined) throw new Error(`local store lacks the manifest of ${dataset.plan.id}`)
      await destination.store.putManifest(manifestBytes, cid)
      const read = storeLane(source, p.inFlight)
      const copy: Lane = {
        ...read,
        read: async (key) => {
          const bytes = await read.read(key)
          await destination.store.putChunk(key, bytes)
          return bytes
        },
      }
      const measure = await consume({ items: sequentialItems(dataset.manifest), lanes: [copy] })
      await destination.store.markComplete(cid)
      const seconds = (performance.now() - started) / 1000
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

/** W4 from peers and/or the origin: the consumer's Fetcher stages the dataset into its store. */
async function stageRemotely(
  ctx: Context,
  p: CellPlan,
  dataset: TemplateDataset,
  model: LinkModel,
): Promise<Run> {
  const cid = datasetCid(dataset)
  const providers = providersOf(ctx, p)
  try {
    const m = await stageWithFetcher(
      ctx.consumer.peerId,
      ctx.consumer.libp2p,
      ctx.consumer.store,
      cid,
      providers.map((x) => ({ peerId: x.node.peerId, kind: x.kind, rttMs: Math.max(x.rttMs, 0.1) })),
      p.inFlight,
    )
    const seconds = m.result.seconds
    return {
      seconds,
      bytes: m.result.fetchedBytes,
      throughputMBps: m.result.fetchedBytes / seconds / 1e6,
      ttfbMs: m.ttfbMs,
      latencyHistogram: m.histogram.encode(),
      originBytes: m.originBytes,
      peerBytes: m.peerBytes,
      protocolMs: protocolOverheadMs(m.ttfbMs, model),
    }
  } finally {
    // The next repetition must stage from scratch, not resume.
    await ctx.consumer.store.remove(cid).catch(() => {})
  }
}
