/**
 * Does adding sources ever make a transfer slower? The experiment's distant origin (1 Gbit/s,
 * ~99 ms) and sixteen home peers at 100 km (25 Mbit/s uplinks each), alone and together, in
 * dilated time so this machine's CPU is not the limit: a whole-dataset staging through the real
 * Fetcher (multi-source scheduler), an in-order sequential read over one chunk session per
 * source (the experiment's consumer), and a random read of image-sized samples (W1: the origin's
 * round trip, not its uplink, limits it at 16 requests in flight, so its offer overstates it).
 * Target: origin + peers >= the better of the two alone.
 */
import type { PeerId } from '@libp2p/interface'
import { datasetCid, type TemplateDataset } from '../../src/experiment/nodes.ts'
import {
  originLink,
  placementPaths,
  residentialLink,
  type SourcePath,
  W1_PREFETCH_DEPTH,
} from '../../src/experiment/scenarios.ts'
import {
  consume,
  sampleItems,
  sequentialItems,
  sessionLanes,
  stageWithFetcher,
} from '../../src/experiment/workloads.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { seededRandom } from '../../src/util/random.ts'
import { median } from '../../src/util/stats.ts'
import { withDilatedLab } from './dilated-lab.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

/** Dilation: 17 nodes share this process, and origin + peers carry ~175 MB/s undilated. */
const FULL_K = 16
/** The smoke test's tiny run: 4 peers and 8 MiB, where a low K keeps the home uplinks quick. */
const QUICK_K = 4
const DISTANCE_KM = 100

interface Source {
  peerId: PeerId
  kind: 'peer' | 'origin'
  path: SourcePath
}

type Placement = 'origin' | 'peers' | 'both'

/** Undilated MB/s of one staging (Fetcher) and one sequential read (sessions) from `sources`. */
async function measure(
  consumer: Bwnode,
  dataset: TemplateDataset,
  sources: Source[],
  K: number,
  samples: TemplateDataset,
): Promise<{ stage: number; read: number; random: number }> {
  const cid = datasetCid(dataset)
  const staged = await stageWithFetcher(
    consumer.peerId,
    consumer.libp2p,
    consumer.store,
    cid,
    sources.map((s) => ({
      peerId: s.peerId,
      kind: s.kind,
      rttMs: s.path.rttMs * K,
      offeredBytesPerSec: s.path.rateBytesPerSec / K,
    })),
    16,
    1 / K,
  )
  await consumer.store.remove(cid)
  const { lanes, close } = await sessionLanes(
    consumer.libp2p,
    sources.map((s) => ({
      peerId: s.peerId,
      kind: s.kind,
      label: s.kind,
      expectedBytesPerSec: s.path.rateBytesPerSec / K,
    })),
    16,
    K,
  )
  try {
    const read = await consume({ items: sequentialItems(dataset.manifest), lanes })
    // W1's read: samples in a seeded random order, as far ahead as the experiment's consumer reads
    const random = await consume({
      items: sampleItems(samples.manifest, seededRandom(1)),
      lanes,
      prefetchDepth: W1_PREFETCH_DEPTH,
    })
    return {
      stage: staged.result.fetchedBytes / (staged.result.seconds / K) / 1e6,
      read: read.bytes / (read.seconds / K) / 1e6,
      random: random.bytes / (random.seconds / K) / 1e6,
    }
  } finally {
    await close()
  }
}

export async function placementsBench(ctx: BenchContext): Promise<BenchResult[]> {
  const K = ctx.quick ? QUICK_K : FULL_K
  const peersCount = ctx.quick ? 4 : 16
  const totalMiB = ctx.quick ? 8 : 96
  const rounds = ctx.quick ? 1 : 2
  const [originPath] = placementPaths('P3-origin')
  const peerPaths = placementPaths('P2-residential-peers', DISTANCE_KM, peersCount)
  if (originPath === undefined) throw new Error('no origin path')
  const providers = [
    { name: 'origin', link: originLink() },
    ...Array.from({ length: peersCount }, (_, i) => ({
      name: `peer-${i}`,
      link: residentialLink(DISTANCE_KM, i, peersCount),
    })),
  ]
  const samplesCount = ctx.quick ? 32 : 128
  const lab = { name: 'placements', totalMiB, K, providers, pings: 1, samples: samplesCount }
  return withDilatedLab(
    ctx.workDir,
    lab,
    async ({ consumer, providers: [origin, ...peerNodes], dataset, samples }) => {
      if (origin === undefined) throw new Error('no origin node')
      if (samples === undefined) throw new Error('the lab made no samples dataset')
      const peers: Source[] = peerNodes.map((node, i) => ({
        peerId: node.peerId,
        kind: 'peer',
        path: peerPaths[i] as SourcePath,
      }))
      const originSource: Source = { peerId: origin.peerId, kind: 'origin', path: originPath }
      const placements: Record<Placement, Source[]> = {
        origin: [originSource],
        peers,
        both: [originSource, ...peers],
      }
      const stage: Record<Placement, number[]> = { origin: [], peers: [], both: [] }
      const read: Record<Placement, number[]> = { origin: [], peers: [], both: [] }
      const random: Record<Placement, number[]> = { origin: [], peers: [], both: [] }
      const order = Object.keys(placements) as Placement[]
      for (let round = 0; round < rounds; round++) {
        for (const name of round % 2 === 0 ? order : [...order].reverse()) {
          const m = await measure(consumer, dataset, placements[name], K, samples)
          stage[name].push(m.stage)
          read[name].push(m.read)
          random[name].push(m.random)
          ctx.log(
            `placements: ${name} staging ${m.stage.toFixed(1)} MB/s, sequential read ${m.read.toFixed(1)} MB/s, ` +
              `random samples ${m.random.toFixed(1)} MB/s`,
          )
        }
      }
      const where = `origin 1 Gbit/s x ${originPath.rttMs.toFixed(0)} ms + ${peersCount} peers at ${DISTANCE_KM} km, ${totalMiB} MiB (random: ${samplesCount} samples), dilated K=${K} (this machine's CPU is not the limit)`
      const out: BenchResult[] = []
      for (const [label, figures] of [
        ['staging', stage],
        ['sequential', read],
        ['random_samples', random],
      ] as const) {
        const best = Math.max(median(figures.origin), median(figures.peers))
        out.push(
          info(`placements.${label}_origin_MBps`, median(figures.origin), 'MB/s', where),
          info(`placements.${label}_peers_MBps`, median(figures.peers), 'MB/s', where),
          info(`placements.${label}_both_MBps`, median(figures.both), 'MB/s', where),
          checked(`placements.${label}_both_vs_best_alone`, median(figures.both) / best, 'x', '>=', 1, where),
        )
      }
      return out
    },
  )
}
