/**
 * `bwnode experiment --live`: the claim measured on a real network instead of an emulated one.
 *
 * A temporary measuring node (its own data dir, no link emulator) bootstraps from a running
 * daemon, finds the real providers of one of the daemon's datasets through the DHT (the daemon
 * itself and nodes on other machines), pings each, then measures with the same consumers as the
 * emulated experiment: staging the whole dataset from all providers (W4), which also gives the
 * measuring node a local copy; sequential reads (W2) and, for datasets of many files, training-like
 * sample reads (W1) from local storage, from each provider alone and from all of them at once.
 * Distances are unknown on a real network: each cell's model carries the measured RTT as access
 * latency and no propagation, and the report says so.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { ApiClient, type DaemonLocation } from '../client/api-client.ts'
import { parseConfig } from '../config/load.ts'
import type { DatasetInfo, NodeStatus, PeerEntry } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { Bwnode } from '../node/bwnode.ts'
import { ChunkSession } from '../protocols/chunk/client.ts'
import { parseDatasetCid } from '../store/cid.ts'
import type { Manifest } from '../store/manifest.ts'
import { seededRandom } from '../util/random.ts'
import { writeReport } from './report.ts'
import type { ExperimentOutcome } from './runner.ts'
import { machineInfo, versions } from './runner.ts'
import {
  type Cell,
  type LinkModel,
  RESULTS_SCHEMA_VERSION,
  type Results,
  type Run,
  type Workload,
} from './types.ts'
import {
  type ConsumeMeasure,
  consume,
  type ReadItem,
  sampleItems,
  sequentialItems,
  sessionLanes,
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
  onProgress?: (line: string) => void
}

interface LiveProvider {
  peerId: PeerId
  label: string
  rttMs: number
}

const IN_FLIGHT = 16
const W1_MIN_FILES = 16
const W1_TARGET_BYTES_PER_SEC = 8e6
const DISCOVERY_MS = 10_000
const DISCOVERY_WALKS = 3
/** A daemon's connected peer asked directly (HAVE) must answer within this many ms. */
const HAVE_PROBE_TIMEOUT_MS = 3_000

export async function runLiveExperiment(options: LiveExperimentOptions): Promise<ExperimentOutcome> {
  const log = options.onProgress ?? (() => {})
  const repetitions = options.repetitions ?? 3
  const seed = options.seed ?? 1
  const api = await ApiClient.locate(options)
  const status = await api.get<NodeStatus>('/api/status')
  const dataset = await chooseDataset(api, options.cid)
  const cid = parseDatasetCid(dataset.cid)
  log(
    `live experiment on ${dataset.name} (${dataset.cid}, ${(dataset.bytes / 1e6).toFixed(1)} MB) via ${status.peerId}`,
  )

  const workDir = await mkdtemp(join(tmpdir(), 'bwnode-live-'))
  const node = await Bwnode.create(
    parseConfig(
      {
        dataDir: join(workDir, 'node'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: status.multiaddrs.filter((addr) => addr.includes('/p2p/')).slice(0, 4),
        offer: { uplinkMbps: 0, pricePerGiB: 0 },
      },
      'live experiment',
    ),
  )
  try {
    await node.start()
    const providers = await findProviders(
      node,
      cid,
      peerIdFromString(status.peerId),
      options.maxProviders ?? 8,
      log,
      () => api.get<PeerEntry[]>('/api/peers'),
    )
    if (providers.length === 0)
      throw new BwnodeError(ERR.NO_PROVIDERS, `no provider of ${dataset.cid} answered`)
    const manifest = await fetchManifest(node, cid, providers)
    const cells: Cell[] = []
    const started = new Date().toISOString()

    // W4 first: staging also gives the measuring node the local copy P0 reads from.
    const stageRuns: Run[] = []
    for (let rep = 0; rep < repetitions; rep++) {
      if (rep > 0) await node.store.remove(cid)
      stageRuns.push(await stage(node, cid, providers))
      log(
        `W4 staging from ${providers.length} provider(s): ${stageRuns.at(-1)?.throughputMBps.toFixed(2)} MB/s`,
      )
    }
    cells.push(
      cell(manifest.chunkSize, 'W4-bulk-staging', 'P2-residential-peers', 'all', providers, stageRuns),
    )

    const workloads: Array<{ workload: Workload; items: (rep: number) => ReadItem[]; target?: number }> = [
      { workload: 'W2-sequential-shards', items: () => sequentialItems(manifest) },
    ]
    if (manifest.files.length >= W1_MIN_FILES) {
      workloads.push({
        workload: 'W1-random-samples',
        items: (rep) => sampleItems(manifest, seededRandom(seed * 1000 + rep)),
        target: W1_TARGET_BYTES_PER_SEC,
      })
    }
    for (const { workload, items, target } of workloads) {
      const measure = (
        lanesOf: () => Promise<{ lanes: import('./workloads.ts').Lane[]; close(): Promise<void> }>,
      ) =>
        repeat(repetitions, async (rep) => {
          const { lanes, close } = await lanesOf()
          try {
            const m = await consume({
              items: items(rep),
              lanes,
              ...(target === undefined ? {} : { targetBytesPerSec: target, prefetchDepth: IN_FLIGHT }),
            })
            return toRun(m, workload)
          } finally {
            await close()
          }
        })
      const local = async () => ({ lanes: [storeLane(node.store, IN_FLIGHT)], close: async () => {} })
      cells.push(
        cell(
          manifest.chunkSize,
          workload,
          'P0-local-warm',
          'local',
          [],
          await measure(local),
          target,
          'local',
        ),
      )
      for (const provider of providers) {
        const runs = await measure(() =>
          sessionLanes(
            node.libp2p,
            [{ peerId: provider.peerId, kind: 'peer', label: provider.label }],
            IN_FLIGHT,
          ),
        )
        // with one provider, it is the network the outcome compares local storage with
        const role = providers.length === 1 ? 'network' : undefined
        cells.push(
          cell(
            manifest.chunkSize,
            workload,
            'P2-residential-peers',
            provider.label,
            [provider],
            runs,
            target,
            role,
          ),
        )
        log(`${workload} from ${provider.label}: ${runs[0]?.throughputMBps.toFixed(2)} MB/s`)
      }
      if (providers.length > 1) {
        const runs = await measure(() =>
          sessionLanes(
            node.libp2p,
            providers.map((p) => ({ peerId: p.peerId, kind: 'peer' as const, label: p.label })),
            IN_FLIGHT,
          ),
        )
        cells.push(
          cell(
            manifest.chunkSize,
            workload,
            'P2-residential-peers',
            'all',
            providers,
            runs,
            target,
            'network',
          ),
        )
      }
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
          providers: providers.length,
          daemon: status.peerId,
        },
      },
      machine: machineInfo(),
      versions: await versions(),
      calibration: {
        zeroDelayOverheadRatio: 1,
        rtt: providers.map((p) => ({ configuredMs: p.rttMs, measuredMs: p.rttMs })),
        rate: [],
        passed: true,
        notes:
          'Live run on a real network: no link emulator is involved, so there is nothing to calibrate. ' +
          'RTTs are measured with libp2p ping; distance is unknown, so every RTT is reported as access latency.',
      },
      cells,
    }
    const report = await writeReport(results, options.out)
    return { results, reportPath: report.reportPath, verdicts: report.verdicts }
  } finally {
    await node.stop().catch(() => {})
    await rm(workDir, { recursive: true, force: true }).catch(() => {})
  }
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
): Promise<LiveProvider[]> {
  // The daemon holds the dataset by construction; the others come from the DHT. A single walk can
  // end before a record has spread, so walk a few times within the discovery window.
  const candidates = new Map<string, PeerId>([[daemon.toString(), daemon]])
  const deadline = AbortSignal.timeout(DISCOVERY_MS)
  for (let walk = 0; walk < DISCOVERY_WALKS && !deadline.aborted && candidates.size < max; walk++) {
    try {
      for await (const p of node.libp2p.contentRouting.findProviders(cid, { signal: deadline })) {
        if (p.id.equals(node.peerId)) continue
        if (p.multiaddrs.length > 0) {
          await node.libp2p.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
        }
        candidates.set(p.id.toString(), p.id)
        if (candidates.size >= max) break
      }
    } catch (err) {
      if (!deadline.aborted) log(`provider walk failed: ${(err as Error).message}`)
    }
    if (walk < DISCOVERY_WALKS - 1) await new Promise((r) => setTimeout(r, 1000))
  }
  // A provider record can take longer to spread than the walks allow on a busy or tiny network;
  // the daemon's own connected peers are asked directly whether they hold the dataset.
  if (candidates.size < max) {
    for (const peer of await daemonPeers().catch(() => [])) {
      if (candidates.size >= max) break
      if (!peer.connected || candidates.has(peer.peerId) || peer.peerId === node.peerId.toString()) continue
      const peerId = peerIdFromString(peer.peerId)
      if (await holdsSomeOf(node, peerId, peer.addrs, cid)) {
        candidates.set(peer.peerId, peerId)
        log(`provider ${peer.peerId}: found among the daemon's connected peers`)
      }
    }
  }
  const found: LiveProvider[] = []
  for (const peerId of candidates.values()) {
    try {
      const pings: number[] = []
      for (let i = 0; i < 5; i++) pings.push((await node.ping(peerId.toString())).rttMs)
      pings.sort((a, b) => a - b)
      const rttMs = Math.max(pings[2] ?? 0, 0.1)
      found.push({ peerId, label: `${peerId.toString().slice(-8)} (RTT ${rttMs} ms)`, rttMs })
      log(`provider ${peerId.toString()}: RTT ${rttMs} ms`)
    } catch {
      log(`provider ${peerId.toString()} did not answer pings; skipped`)
    }
  }
  return found
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
  for (const provider of providers) {
    try {
      const session = await ChunkSession.open(node.libp2p, provider.peerId)
      try {
        await node.store.putManifest(await session.manifest(cid), cid)
      } finally {
        await session.close()
      }
      const manifest = await node.store.getManifest(cid)
      if (manifest !== undefined) return manifest
    } catch {
      // the next provider may have it
    }
  }
  throw new BwnodeError(ERR.NO_PROVIDERS, `no provider sent a valid manifest for ${cid}`)
}

async function stage(node: Bwnode, cid: CID, providers: LiveProvider[]): Promise<Run> {
  const m = await stageWithFetcher(
    node.peerId,
    node.libp2p,
    node.store,
    cid,
    providers.map((p) => ({ peerId: p.peerId, kind: 'peer' as const, rttMs: p.rttMs })),
    IN_FLIGHT,
  )
  const seconds = m.result.seconds
  return {
    seconds,
    bytes: m.result.bytes,
    throughputMBps: m.result.bytes / seconds / 1e6,
    ttfbMs: m.ttfbMs,
    latencyHistogram: m.histogram.encode(),
    originBytes: 0,
    peerBytes: m.result.fetchedBytes,
  }
}

async function repeat(times: number, once: (rep: number) => Promise<Run>): Promise<Run[]> {
  const runs: Run[] = []
  for (let rep = 0; rep < times; rep++) runs.push(await once(rep))
  return runs
}

function toRun(m: ConsumeMeasure, workload: Workload): Run {
  return {
    seconds: m.seconds,
    bytes: m.bytes,
    throughputMBps: m.bytes / m.seconds / 1e6,
    ttfbMs: m.ttfbMs,
    latencyHistogram: m.histogram.encode(),
    ...(workload === 'W1-random-samples'
      ? { epochSeconds: m.seconds, stallFraction: Math.min(1, m.stallSeconds / m.seconds) }
      : {}),
    originBytes: m.bytesByKind.origin,
    peerBytes: m.bytesByKind.peer,
  }
}

function cell(
  chunkSizeBytes: number,
  workload: Workload,
  placement: Cell['placement'],
  label: string,
  providers: LiveProvider[],
  runs: Run[],
  targetBytesPerSec?: number,
  role?: Cell['role'],
): Cell {
  const rtt = providers.length === 0 ? 0 : Math.min(...providers.map((p) => p.rttMs))
  const model: LinkModel = { oneWayDelayMs: { propagationMs: 0, accessMs: rtt / 2 }, rateMbps: 0 }
  return {
    id: `${workload.slice(0, 2)}-${placement.slice(0, 2)}-${label.replace(/[^A-Za-z0-9]+/g, '').slice(0, 12)}`,
    workload,
    placement,
    ...(providers.length > 0 ? { k: providers.length } : {}),
    inFlight: IN_FLIGHT,
    chunkSizeBytes,
    ...(targetBytesPerSec === undefined ? {} : { targetRateMBps: targetBytesPerSec / 1e6 }),
    model,
    ...(role === undefined ? {} : { role }),
    runs,
  }
}
