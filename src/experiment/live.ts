/**
 * `bwnode experiment --live`: the claim measured on a real network instead of an emulated one.
 *
 * A temporary measuring node (its own data dir, no link emulator) bootstraps from a running
 * daemon, finds the real providers of one of the daemon's datasets through the DHT (the daemon
 * itself, nodes on other machines, and the daemon's connected peers that hold it), pings each and
 * reads its offer, then measures with the same consumers as the emulated experiment: staging the
 * dataset from all providers (W4), which also gives the measuring node a local copy; sequential
 * reads (W2) and, for datasets of many files, training-like sample reads (W1) from local storage,
 * from each provider alone and from all of them at once. It pays the providers as any node does.
 *
 * Runs are sized to the dataset and to the rates measured on the way (a big dataset is read in
 * part), and every step that fails is reported as failed with its error: the run always ends with
 * a report. Distances are unknown on a real network: each cell's model carries the measured RTT
 * as access latency and no propagation, and the report says so.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { ApiClient, type DaemonLocation } from '../client/api-client.ts'
import { parseConfig } from '../config/load.ts'
import type { LinkConfig } from '../config/schema.ts'
import type { DatasetInfo, NodeStatus, PeerEntry } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, errorMessage } from '../errors/index.ts'
import { MICROCREDITS_PER_CREDIT } from '../ledger/constants.ts'
import { Bwnode } from '../node/bwnode.ts'
import { ChunkSession } from '../protocols/chunk/client.ts'
import { parseDatasetCid } from '../store/cid.ts'
import type { Manifest } from '../store/manifest.ts'
import { seededRandom } from '../util/random.ts'
import { median, medianOrUndefined } from '../util/stats.ts'
import { cellLabel, classifyLiveRun, FidelityMonitor, idealTransfer } from './fidelity.ts'
import { openEmptyStore } from './nodes.ts'
import { writeReport } from './report.ts'
import type { ExperimentOutcome } from './runner.ts'
import { machineInfo, versions } from './runner.ts'
import {
  type Cell,
  type LinkModel,
  type LiveProviderRecord,
  type LiveRun,
  RESULTS_SCHEMA_VERSION,
  type Results,
  type Run,
  type Workload,
} from './types.ts'
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

export interface LiveExperimentOptions extends DaemonLocation {
  out: string
  /** Dataset to measure with; default: the largest complete dataset the daemon holds. */
  cid?: string
  repetitions?: number
  maxProviders?: number
  seed?: number
  /** A run aims at this many seconds (reads are sized from the rates measured before them). */
  runSeconds?: number
  onProgress?: (line: string) => void
}

interface LiveProvider extends LiveProviderRecord {
  id: PeerId
  /** Median ping, ms. */
  rttMs: number
}

const IN_FLIGHT = 16
const W1_MIN_FILES = 16
const W1_TARGET_BYTES_PER_SEC = 8e6
const DISCOVERY_MS = 10_000
const DISCOVERY_WALKS = 3
const PINGS = 5
/** A daemon's connected peer asked directly (HAVE) must answer within this many ms. */
const HAVE_PROBE_TIMEOUT_MS = 3_000
const OFFER_TIMEOUT_MS = 3_000
/** What one run aims to last, s: long enough for steady state, short enough for many cells. */
const DEFAULT_RUN_SECONDS = 8
/** Staging the whole dataset is given at most this long, s; past it W4 is reported as failed. */
const STAGE_MAX_SECONDS = 300
/** Repetitions of W4 stop once staging has taken this long in all, s (two runs at least). */
const STAGE_BUDGET_SECONDS = 180
/** No read moves fewer chunks than this (one late chunk must not decide it). */
const MIN_READ_CHUNKS = 16

export async function runLiveExperiment(options: LiveExperimentOptions): Promise<ExperimentOutcome> {
  const log = options.onProgress ?? (() => {})
  const repetitions = options.repetitions ?? 3
  const seed = options.seed ?? 1
  const runSeconds = options.runSeconds ?? DEFAULT_RUN_SECONDS
  const api = await ApiClient.locate(options)
  const status = await api.get<NodeStatus>('/api/status')
  const dataset = await chooseDataset(api, options.cid)
  const cid = parseDatasetCid(dataset.cid)
  log(
    `live experiment on ${dataset.name} (${dataset.cid}, ${(dataset.bytes / 1e6).toFixed(1)} MB) via ${status.peerId}`,
  )

  // A daemon on an emulated link (a lab of hosts) only talks to nodes that run the emulator too: the
  // measuring node stands where the daemon stands, so it takes the daemon's link, without the
  // household traffic that link may carry (that is the daemon's own load, not the measurer's).
  const sharedLink = status.link === null ? undefined : withoutCrossTraffic(status.link)
  const workDir = await mkdtemp(join(tmpdir(), 'bwnode-live-'))
  const node = await Bwnode.create(
    parseConfig(
      {
        dataDir: join(workDir, 'node'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: status.multiaddrs.filter((addr) => addr.includes('/p2p/')).slice(0, 4),
        offer: { uplinkMbps: 0, pricePerGiB: 0 },
        ...(sharedLink === undefined ? {} : { link: sharedLink }),
      },
      'live experiment',
    ),
  )
  const started = new Date().toISOString()
  const cells: Cell[] = []
  const live: LiveRun = {
    daemon: status.peerId,
    dataset: { cid: dataset.cid, name: dataset.name, bytes: dataset.bytes, chunks: 0 },
    providers: [],
    sizing: [],
    creditsSpent: 0,
    errors: [],
    ...(sharedLink === undefined ? {} : { sharedLink }),
  }
  const monitor = new FidelityMonitor()
  try {
    await node.start()
    const spentBefore = node.ledger.spent
    const providers = await findProviders(
      node,
      cid,
      peerIdFromString(status.peerId),
      options.maxProviders ?? 8,
      log,
      () => api.get<PeerEntry[]>('/api/peers'),
      live.errors,
    ).catch((err) => {
      live.errors.push(`finding providers: ${errorMessage(err)}`)
      return [] as LiveProvider[]
    })
    live.providers = providers.map(({ id: _id, rttMs: _rtt, ...record }) => record)
    if (providers.length === 0) {
      live.errors.push(`no provider of ${dataset.cid} answered`)
    } else {
      const manifest = await fetchManifest(node, cid, providers).catch((err) => {
        live.errors.push(errorMessage(err))
        return undefined
      })
      if (manifest !== undefined) {
        live.dataset.chunks = manifest.files.reduce((n, f) => n + f.chunks.length, 0)
        const measurer = new LiveMeasurer({
          node,
          cid,
          manifest,
          providers,
          monitor,
          live,
          log,
          settings: { repetitions, seed, runSeconds },
        })
        cells.push(...(await measurer.run()))
      }
    }
    live.creditsSpent = Math.max(0, node.ledger.spent - spentBefore) / MICROCREDITS_PER_CREDIT
  } catch (err) {
    live.errors.push(errorMessage(err))
  } finally {
    await node.stop().catch(() => {})
    await rm(workDir, { recursive: true, force: true }).catch(() => {})
  }
  const results: Results = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    startedAt: started,
    config: {
      mode: 'live',
      seed,
      repetitions,
      knobs: {
        inFlight: IN_FLIGHT,
        dataset: dataset.cid,
        providers: live.providers.length,
        daemon: status.peerId,
        runSeconds,
        stageMaxSeconds: STAGE_MAX_SECONDS,
      },
    },
    machine: machineInfo(),
    versions: await versions(),
    calibration: {
      rtt: [],
      rate: [],
      passed: true,
      notes:
        'Live run on a real network: no link emulator ran, so there is nothing to calibrate; ' +
        'RTTs are measured with libp2p ping and distance is unknown.',
    },
    cells,
    live,
  }
  const report = await writeReport(results, options.out)
  for (const line of live.errors) log(`error: ${line}`)
  return { results, reportPath: report.reportPath, verdicts: report.verdicts }
}

interface MeasureSettings {
  repetitions: number
  seed: number
  runSeconds: number
}

/** The cells of one live run, each measured in its own try: a failed cell is kept with its error. */
class LiveMeasurer {
  private readonly cells: Cell[] = []
  /** The rate each source delivered so far, bytes/s (staging, then reads). */
  private readonly rates = new Map<string, number>()
  private staged = false

  private readonly node: Bwnode
  private readonly cid: CID
  private readonly manifest: Manifest
  private readonly providers: LiveProvider[]
  private readonly monitor: FidelityMonitor
  private readonly live: LiveRun
  private readonly log: (line: string) => void
  private readonly settings: MeasureSettings

  constructor(init: {
    node: Bwnode
    cid: CID
    manifest: Manifest
    providers: LiveProvider[]
    monitor: FidelityMonitor
    live: LiveRun
    log: (line: string) => void
    settings: MeasureSettings
  }) {
    this.node = init.node
    this.cid = init.cid
    this.manifest = init.manifest
    this.providers = init.providers
    this.monitor = init.monitor
    this.live = init.live
    this.log = init.log
    this.settings = init.settings
  }

  async run(): Promise<Cell[]> {
    await this.stageCell()
    const workloads: Array<{ workload: Workload; items: (rep: number) => ReadItem[]; target?: number }> = [
      { workload: 'W2-sequential-shards', items: () => sequentialItems(this.manifest) },
    ]
    if (this.manifest.files.length >= W1_MIN_FILES) {
      workloads.push({
        workload: 'W1-random-samples',
        items: (rep) => sampleItems(this.manifest, seededRandom(this.settings.seed * 1000 + rep)),
        target: W1_TARGET_BYTES_PER_SEC,
      })
    }
    for (const w of workloads) await this.readCells(w.workload, w.items, w.target)
    return this.cells
  }

  /** W4: the whole dataset from every provider through the node's fetcher, paid for. */
  private async stageCell(): Promise<void> {
    const { node, cid, providers } = this
    const runs: Run[] = []
    const offered = sumOffered(providers)
    const estimate = offered === undefined ? undefined : this.live.dataset.bytes / offered
    let error: string | undefined
    if (estimate !== undefined && estimate > STAGE_MAX_SECONDS) {
      error =
        `not run: staging ${mb(this.live.dataset.bytes)} MB at the ${mb(offered ?? 0)} MB/s the providers offer ` +
        `would take ~${estimate.toFixed(0)} s (more than ${STAGE_MAX_SECONDS} s); the reads below use a part of it`
    } else {
      let spent = 0
      for (let rep = 0; rep < this.settings.repetitions; rep++) {
        if (rep >= 2 && spent > STAGE_BUDGET_SECONDS) break
        try {
          if (rep > 0) await node.store.remove(cid)
          const span = this.monitor.begin()
          const m = await stageWithFetcher(
            node.peerId,
            node.libp2p,
            node.store,
            cid,
            providers.map((p) => ({
              peerId: p.id,
              kind: 'peer' as const,
              rttMs: p.rttMs,
              ...(p.offer !== null && p.offer.uplinkMbps > 0
                ? { offeredBytesPerSec: (p.offer.uplinkMbps * 1e6) / 8 }
                : {}),
            })),
            IN_FLIGHT,
            1,
            node.payer,
            AbortSignal.timeout(STAGE_MAX_SECONDS * 1000),
          )
          const figures = span.end()
          const seconds = m.result.seconds
          spent += seconds
          for (const p of m.result.providers)
            if (p.rateMBps !== null && p.rateMBps > 0) this.rates.set(p.peerId, p.rateMBps * 1e6)
          this.rates.set('all', m.result.bytes / Math.max(seconds, 1e-3))
          const run: Run = {
            seconds,
            bytes: m.result.bytes,
            throughputMBps: m.result.bytes / seconds / 1e6,
            ttfbMs: m.ttfbMs,
            firstChunkMs: m.firstChunkMs,
            ...(m.steadyBytesPerSec === undefined ? {} : { steadyMBps: m.steadyBytesPerSec / 1e6 }),
            latencyHistogram: m.histogram.encode(),
            originBytes: 0,
            peerBytes: m.result.fetchedBytes,
            fidelity: classifyLiveRun({
              figures,
              cpus: cpus().length,
              seconds,
              rttMs: minRtt(providers),
              ...idealFor(providers, sequentialItems(this.manifest), undefined),
            }),
          }
          runs.push(run)
          this.staged = true
          this.log(`W4 staging from ${providers.length} provider(s): ${run.throughputMBps.toFixed(2)} MB/s`)
        } catch (err) {
          error = `run ${rep + 1}: ${errorMessage(err)}`
          this.log(`W4 staging failed: ${error}`)
          break
        }
      }
      this.live.sizing.push(
        `W4: the whole dataset (${mb(this.live.dataset.bytes)} MB), ${runs.length} run(s)` +
          (runs.length < this.settings.repetitions && error === undefined
            ? ` (staging took ${runs.reduce((s, r) => s + r.seconds, 0).toFixed(0)} s in all; more would pass ${STAGE_BUDGET_SECONDS} s)`
            : ''),
      )
    }
    this.cells.push(
      cell(this.manifest.chunkSize, 'W4-bulk-staging', 'P2-residential-peers', 'all', providers, runs, {
        // every provider together is the network the outcome compares local storage with
        role: 'network',
        ...(error === undefined ? {} : { error }),
      }),
    )
    if (this.staged) await this.localStageCell()
  }

  /**
   * W4's local baseline, as in the lab: the staged copy, copied chunk by chunk into an empty store
   * on this machine (what staging would take if the data were already on local disk).
   */
  private async localStageCell(): Promise<void> {
    const runs: Run[] = []
    let error: string | undefined
    for (let rep = 0; rep < this.settings.repetitions; rep++) {
      const dir = await mkdtemp(join(tmpdir(), 'bwnode-live-stage-'))
      try {
        const destination = await openEmptyStore(dir)
        try {
          const span = this.monitor.begin()
          const { seconds, measure } = await stageFromStore(
            this.node.store,
            destination.store,
            this.cid,
            this.manifest,
            IN_FLIGHT,
          )
          runs.push(toRun({ ...measure, seconds }, 'W4-bulk-staging', { ...span.end(), local: true }))
        } finally {
          await destination.close()
        }
      } catch (err) {
        error = `run ${rep + 1}: ${errorMessage(err)}`
        break
      } finally {
        await rm(dir, { recursive: true, force: true }).catch(() => {})
      }
    }
    this.cells.push(
      cell(this.manifest.chunkSize, 'W4-bulk-staging', 'P0-local-warm', 'local', [], runs, {
        role: 'local',
        ...(error === undefined ? {} : { error }),
      }),
    )
  }

  /** W2/W1: local storage, each provider alone, and all of them, each sized to `runSeconds`. */
  private async readCells(
    workload: Workload,
    itemsOf: (rep: number) => ReadItem[],
    target: number | undefined,
  ): Promise<void> {
    const { node, providers } = this
    const all = itemsOf(0)
    const payment = { payer: node.payer, datasetCid: this.cid }
    const sources: Array<{ label: string; of: LiveProvider[]; role?: Cell['role'] }> = [
      ...providers.map((p) => ({
        label: p.label,
        of: [p],
        // with one provider, it is the network the outcome compares local storage with
        ...(providers.length === 1 ? { role: 'network' as const } : {}),
      })),
      ...(providers.length > 1 ? [{ label: 'all', of: providers, role: 'network' as const }] : []),
    ]
    const sizes: string[] = []
    const sizedItems = (of: LiveProvider[] | 'local', rep: number): ReadItem[] => {
      const rate =
        of === 'local' ? undefined : (target ?? this.rateOf(of.length === providers.length ? 'all' : of))
      const items = itemsOf(rep)
      return rate === undefined ? items : takeBytes(items, rate * this.settings.runSeconds, MIN_READ_CHUNKS)
    }
    // Local storage reads the largest part any network cell reads, so both move the same bytes.
    const part = Math.max(...sources.map((s) => sizedItems(s.of, 0).length), 0)
    const localItems = (rep: number) => itemsOf(rep).slice(0, Math.max(part, 1))
    if (!this.staged) {
      try {
        await this.fetchPart(localItems(0))
      } catch (err) {
        this.live.errors.push(`${workload}: copying the part read to local storage: ${errorMessage(err)}`)
      }
    }
    this.cells.push(
      await this.measureCell(workload, 'P0-local-warm', 'local', [], target, 'local', localItems, () =>
        Promise.resolve({ lanes: [storeLane(node.store, IN_FLIGHT)], close: async () => {} }),
      ),
    )
    for (const source of sources) {
      const items = (rep: number) => sizedItems(source.of, rep)
      const sample = items(0)
      sizes.push(`${source.label}: ${sample.length} items, ${mb(sumBytes(sample))} MB`)
      const measured = await this.measureCell(
        workload,
        'P2-residential-peers',
        source.label,
        source.of,
        target,
        source.role,
        items,
        () =>
          sessionLanes(
            node.libp2p,
            // Each lane starts from what its provider delivered before (or offers): without it, every
            // lane takes an item to measure itself, and a slow one holds up the in-order reader.
            source.of.map((p) => {
              const expected = this.rateOf([p])
              return {
                peerId: p.id,
                kind: 'peer' as const,
                label: p.label,
                ...(expected === undefined ? {} : { expectedBytesPerSec: expected }),
              }
            }),
            IN_FLIGHT,
            1,
            payment,
          ),
      )
      this.cells.push(measured)
      const first = measured.runs[0]
      // A provider read alone at full speed is the best estimate of what it delivers (a share of
      // W4's multi-source staging understates a fast one): later reads are sized and scheduled by it.
      const alone = source.of.length === 1 ? source.of[0]! : undefined
      const aloneRate = medianThroughput(measured.runs)
      if (
        alone !== undefined &&
        aloneRate !== undefined &&
        (target === undefined || !this.rates.has(alone.peerId))
      )
        this.rates.set(alone.peerId, aloneRate)
      this.log(
        `${workload} from ${source.label}: ${first === undefined ? `failed: ${measured.error}` : `${first.throughputMBps.toFixed(2)} MB/s`}`,
      )
    }
    this.live.sizing.push(
      `${workload}: each run aims at ~${this.settings.runSeconds} s at the rate measured before it ` +
        `(at least ${MIN_READ_CHUNKS} chunks, at most all ${all.length} items); local storage reads ` +
        `${localItems(0).length} items. ${sizes.join('; ')}`,
    )
  }

  private async measureCell(
    workload: Workload,
    placement: Cell['placement'],
    label: string,
    of: LiveProvider[],
    target: number | undefined,
    role: Cell['role'] | undefined,
    itemsOf: (rep: number) => ReadItem[],
    lanesOf: () => Promise<{ lanes: Lane[]; close(): Promise<void> }>,
  ): Promise<Cell> {
    const runs: Run[] = []
    let error: string | undefined
    for (let rep = 0; rep < this.settings.repetitions; rep++) {
      try {
        const items = itemsOf(rep)
        const { lanes, close } = await lanesOf()
        try {
          const span = this.monitor.begin()
          const m = await consume({
            items,
            lanes,
            ...(target === undefined ? {} : { targetBytesPerSec: target, prefetchDepth: IN_FLIGHT }),
          })
          const figures = span.end()
          runs.push(
            toRun(
              m,
              workload,
              placement === 'P0-local-warm'
                ? { ...figures, local: true }
                : { ...figures, local: false, ideal: idealFor(of, items, target), rttMs: minRtt(of) },
            ),
          )
        } finally {
          await close()
        }
      } catch (err) {
        error = `run ${rep + 1}: ${errorMessage(err)}`
        break
      }
    }
    return cell(this.manifest.chunkSize, workload, placement, label, of, runs, {
      ...(target === undefined ? {} : { targetBytesPerSec: target }),
      ...(role === undefined ? {} : { role }),
      ...(error === undefined ? {} : { error }),
    })
  }

  /** The rate of one provider (or 'all'), bytes/s, from what it delivered or, before that, offered. */
  private rateOf(of: LiveProvider[] | 'all'): number | undefined {
    if (of === 'all') return this.rates.get('all') ?? sumOffered(this.providers)
    const p = of[0]!
    return this.rates.get(p.peerId) ?? sumOffered([p])
  }

  /** Copies the chunks of `items` to local storage (when W4 did not stage the dataset), unmeasured. */
  private async fetchPart(items: ReadItem[]): Promise<void> {
    const { lanes, close } = await sessionLanes(
      this.node.libp2p,
      this.providers.map((p) => ({ peerId: p.id, kind: 'peer' as const, label: p.label })),
      IN_FLIGHT,
      1,
      { payer: this.node.payer, datasetCid: this.cid },
    )
    try {
      let next = 0
      const keys = items.flatMap((item) => item.keys)
      await Promise.all(
        lanes.map(async (lane) => {
          while (next < keys.length) {
            const key = keys[next++]!
            if (await this.node.store.hasChunk(key)) continue
            await this.node.store.putChunk(key, await lane.read(key))
          }
        }),
      )
    } finally {
      await close()
    }
  }
}

/** The first items of `items` that add up to `bytes` (at least `minItems` of them). */
function takeBytes(items: ReadItem[], bytes: number, minItems: number): ReadItem[] {
  let total = 0
  let n = 0
  while (n < items.length && (n < minItems || total < bytes)) total += items[n++]!.bytes
  return items.slice(0, n)
}

function sumBytes(items: ReadItem[]): number {
  return items.reduce((sum, item) => sum + item.bytes, 0)
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

/** Bytes/s of a cell's median run, or undefined without runs. */
function medianThroughput(runs: Run[]): number | undefined {
  return medianOrUndefined(runs.map((r) => r.throughputMBps * 1e6))
}

/** Bytes/s the providers' offers lend together; undefined unless every one offers a rate. */
function sumOffered(providers: LiveProvider[]): number | undefined {
  if (providers.length === 0) return undefined
  let sum = 0
  for (const p of providers) {
    if (p.offer === null || p.offer.uplinkMbps <= 0) return undefined
    sum += (p.offer.uplinkMbps * 1e6) / 8
  }
  return sum
}

function minRtt(providers: LiveProvider[]): number {
  return providers.length === 0 ? 0 : Math.min(...providers.map((p) => p.rttMs))
}

/** What the providers' offers allow for these items (the lab's "configured links"), when known. */
function idealFor(providers: LiveProvider[], items: ReadItem[], target: number | undefined) {
  if (sumOffered(providers) === undefined) return {}
  const ideal = idealTransfer({
    paths: providers.map((p) => ({
      rateBytesPerSec: ((p.offer?.uplinkMbps ?? 0) * 1e6) / 8,
      rttMs: p.rttMs,
    })),
    itemBytes: items.map((item) => item.bytes),
    inFlight: IN_FLIGHT,
    ...(target === undefined ? {} : { targetBytesPerSec: target }),
  })
  return { ideal }
}

async function chooseDataset(api: ApiClient, cid: string | undefined): Promise<DatasetInfo> {
  const datasets = await api.get<DatasetInfo[]>('/api/datasets')
  const complete = datasets.filter((d) => d.complete)
  const chosen =
    cid === undefined ? complete.sort((a, b) => b.bytes - a.bytes)[0] : complete.find((d) => d.cid === cid)
  if (chosen === undefined) {
    throw new BwnodeError(
      ERR.DATASET_NOT_FOUND,
      cid === undefined
        ? 'the daemon holds no complete dataset to measure with (bwnode seed samples, or bwnode fetch CID)'
        : `the daemon does not hold ${cid} completely`,
    )
  }
  return chosen
}

async function findProviders(
  node: Bwnode,
  cid: CID,
  daemon: PeerId,
  max: number,
  log: (line: string) => void,
  daemonPeers: () => Promise<PeerEntry[]>,
  /** Where a provider that was found but did not answer is reported. */
  skipped: string[],
): Promise<LiveProvider[]> {
  // The daemon holds the dataset by construction; the others come from the DHT. A single walk can
  // end before a record has spread, so walk a few times within the discovery window.
  const candidates = new Map<string, { id: PeerId; foundBy: LiveProviderRecord['foundBy'] }>([
    [daemon.toString(), { id: daemon, foundBy: 'daemon' }],
  ])
  const deadline = AbortSignal.timeout(DISCOVERY_MS)
  for (let walk = 0; walk < DISCOVERY_WALKS && !deadline.aborted && candidates.size < max; walk++) {
    try {
      for await (const p of node.libp2p.contentRouting.findProviders(cid, { signal: deadline })) {
        if (p.id.equals(node.peerId) || candidates.has(p.id.toString())) continue
        if (p.multiaddrs.length > 0) {
          await node.libp2p.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
        }
        candidates.set(p.id.toString(), { id: p.id, foundBy: 'dht' })
        if (candidates.size >= max) break
      }
    } catch (err) {
      if (!deadline.aborted) log(`provider walk failed: ${(err as Error).message}`)
    }
    if (walk < DISCOVERY_WALKS - 1) await new Promise((r) => setTimeout(r, 1000))
  }
  // A provider record can take longer to spread than the walks allow on a busy or tiny network;
  // the peers the daemon knows are asked directly whether they hold the dataset (connected ones
  // first; one the daemon has just hung up on is still a provider).
  if (candidates.size < max) {
    for (const peer of await daemonPeers().catch(() => [])) {
      if (candidates.size >= max) break
      if (candidates.has(peer.peerId) || peer.peerId === node.peerId.toString()) continue
      if (!peer.connected && peer.addrs.length === 0) continue
      const peerId = peerIdFromString(peer.peerId)
      if (await holdsSomeOf(node, peerId, peer.addrs, cid)) {
        candidates.set(peer.peerId, { id: peerId, foundBy: 'connected' })
        log(`provider ${peer.peerId}: found among the daemon's connected peers`)
      }
    }
  }
  const found: LiveProvider[] = []
  for (const { id, foundBy } of candidates.values()) {
    try {
      const pingsMs = await pingTimes(node, id)
      const rttMs = Math.max(median(pingsMs), 0.1)
      const offer = await node.offers
        .fetch(id, { signal: AbortSignal.timeout(OFFER_TIMEOUT_MS) })
        .catch(() => undefined)
      const addrs = node.libp2p.getConnections(id).map((c) => c.remoteAddr.toString())
      found.push({
        id,
        peerId: id.toString(),
        label: `${id.toString().slice(-8)} (RTT ${rttMs.toFixed(1)} ms)`,
        addrs: [...new Set(addrs)],
        foundBy,
        pingsMs,
        offer:
          offer === undefined
            ? null
            : {
                uplinkMbps: offer.uplinkMbps,
                pricePerGiB: offer.pricePerGiB,
                maxConcurrent: offer.maxConcurrent,
              },
        rttMs,
      })
      log(
        `provider ${id.toString()}: RTT ${rttMs.toFixed(1)} ms` +
          (offer === undefined
            ? ', no offer found'
            : `, offers ${offer.uplinkMbps} Mbit/s at ${offer.pricePerGiB}/GiB`),
      )
    } catch (err) {
      skipped.push(
        `provider ${id.toString()} (found by ${foundBy}) did not answer pings: ${errorMessage(err)}`,
      )
      log(`provider ${id.toString()} did not answer pings; skipped`)
    }
  }
  return found
}

/**
 * PINGS round trips to a provider. A lost ping (a dial racing the peer's connection manager, a
 * stream reset on a busy host) is tried again, up to PINGS more times; it throws only when no
 * ping at all came back.
 */
async function pingTimes(node: Bwnode, id: PeerId): Promise<number[]> {
  const pingsMs: number[] = []
  let lastError: unknown
  for (let attempt = 0; attempt < 2 * PINGS && pingsMs.length < PINGS; attempt++) {
    try {
      pingsMs.push((await node.queries.ping(id.toString())).rttMs)
    } catch (err) {
      lastError = err
    }
  }
  if (pingsMs.length === 0) throw lastError
  return pingsMs
}

/** Does the peer hold any chunk of the dataset? One HAVE on the chunk protocol, bounded in time. */
async function holdsSomeOf(node: Bwnode, peerId: PeerId, addrs: string[], cid: CID): Promise<boolean> {
  try {
    if (addrs.length > 0) {
      await node.libp2p.peerStore.merge(peerId, { multiaddrs: addrs.map((a) => multiaddr(a)) })
    }
    const signal = AbortSignal.timeout(HAVE_PROBE_TIMEOUT_MS)
    const session = await ChunkSession.open(node.libp2p, peerId, { signal })
    try {
      const { bitfield } = await session.have(cid, { signal })
      return bitfield.some((byte) => byte !== 0)
    } finally {
      await session.close()
    }
  } catch {
    return false
  }
}

async function fetchManifest(node: Bwnode, cid: CID, providers: LiveProvider[]): Promise<Manifest> {
  const errors: string[] = []
  for (const provider of providers) {
    try {
      const session = await ChunkSession.open(node.libp2p, provider.id)
      try {
        await node.store.putManifest(await session.manifest(cid), cid)
      } finally {
        await session.close()
      }
      const manifest = await node.store.getManifest(cid)
      if (manifest !== undefined) return manifest
    } catch (err) {
      // the next provider may have it
      errors.push(`${provider.label}: ${errorMessage(err)}`)
    }
  }
  throw new BwnodeError(
    ERR.NO_PROVIDERS,
    `no provider sent a valid manifest for ${cid} (${errors.join('; ')})`,
  )
}

type RunFigures = ReturnType<ReturnType<FidelityMonitor['begin']>['end']>

function toRun(
  m: ConsumeMeasure,
  workload: Workload,
  figures: RunFigures &
    ({ local: true } | { local: false; ideal: ReturnType<typeof idealFor>; rttMs: number }),
): Run {
  return {
    seconds: m.seconds,
    bytes: m.bytes,
    throughputMBps: m.bytes / m.seconds / 1e6,
    ttfbMs: m.ttfbMs,
    firstChunkMs: m.firstChunkMs,
    ...(m.steadyBytesPerSec === undefined ? {} : { steadyMBps: m.steadyBytesPerSec / 1e6 }),
    latencyHistogram: m.histogram.encode(),
    ...(workload === 'W1-random-samples'
      ? { epochSeconds: m.seconds, stallFraction: Math.min(1, m.stallSeconds / m.seconds) }
      : {}),
    originBytes: m.bytesByKind.origin,
    peerBytes: m.bytesByKind.peer,
    fidelity: figures.local
      ? {
          label: 'local',
          dilation: 1,
          eventLoopUtilisation: Math.min(1, figures.eventLoopUtilisation),
          cpuCores: figures.cpuCores,
          latenessP50Ms: 0,
          latenessP99Ms: 0,
          catchUpMs: 0,
          reason: 'local storage: measures this machine by definition',
        }
      : classifyLiveRun({
          figures,
          cpus: cpus().length,
          seconds: m.seconds,
          rttMs: figures.rttMs,
          ...figures.ideal,
        }),
  }
}

function cell(
  chunkSizeBytes: number,
  workload: Workload,
  placement: Cell['placement'],
  label: string,
  providers: LiveProvider[],
  runs: Run[],
  extra: { targetBytesPerSec?: number; role?: Cell['role']; error?: string } = {},
): Cell {
  const rtt = minRtt(providers)
  const model: LinkModel = { oneWayDelayMs: { propagationMs: 0, accessMs: rtt / 2 }, rateMbps: 0 }
  const role = extra.role
  const fidelity = cellLabel(runs)
  return {
    id: `${workload.slice(0, 2)}-${placement.slice(0, 2)}-${label.replace(/[^A-Za-z0-9]+/g, '').slice(0, 12)}`,
    workload,
    placement,
    ...(providers.length > 0 ? { k: providers.length } : {}),
    inFlight: IN_FLIGHT,
    chunkSizeBytes,
    ...(extra.targetBytesPerSec === undefined ? {} : { targetRateMBps: extra.targetBytesPerSec / 1e6 }),
    model,
    ...(role === undefined ? {} : { role }),
    ...(extra.error === undefined ? {} : { error: extra.error }),
    runs,
    ...(fidelity === undefined ? {} : { fidelity }),
  }
}

function withoutCrossTraffic(link: LinkConfig): LinkConfig {
  const { crossTraffic: _household, ...rest } = link
  return rest
}
