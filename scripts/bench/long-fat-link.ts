/**
 * A long fat link (the experiment's distant origin: 1 Gbit/s, ~99 ms RTT) in dilated time, so this
 * machine's CPU is not what limits it: a bare libp2p stream and the chunk protocol (16 requests of
 * 1 MiB in flight) side by side on the same emulated link, steady-state rate / configured rate, and
 * the start-up of a fresh stream in round trips (first whole chunk; time until a 100 ms window of
 * the bare stream first reaches 90% of the rate).
 */
import { join } from 'node:path'
import { buildTemplate, connect, startNode, stopAll } from '../../src/experiment/nodes.ts'
import { consumerLink, originLink, placementPaths } from '../../src/experiment/scenarios.ts'
import { consume, sequentialItems, sessionLanes } from '../../src/experiment/workloads.ts'
import { TimeDilation } from '../../src/net/dilation.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const BULK_PROTOCOL = '/bwnode-bench/bulk/1.0.0'
/** Dilation of this section: the CPU has K times more time per emulated byte. */
const K = 8
const MiB = 2 ** 20

export async function longFatLinkBench(ctx: BenchContext): Promise<BenchResult[]> {
  const [path] = placementPaths('P3-origin')
  if (path === undefined) throw new Error('no origin path')
  const rate = path.rateBytesPerSec
  const rttMs = path.rttMs
  const totalMiB = ctx.quick ? 32 : 384
  const template = await buildTemplate(join(ctx.workDir, 'lfn'), [
    { id: 'shards', recipe: 'shards', scale: totalMiB / 512, chunkSizeBytes: MiB },
  ])
  const dataset = template.datasets.get('shards')
  if (dataset === undefined) throw new Error('template lost its dataset')
  const dilation = new TimeDilation(1)
  const emulator = { dilation }
  const nodes: Bwnode[] = []
  try {
    const client = await startNode({
      dataDir: join(ctx.workDir, 'lfn-client'),
      link: consumerLink(),
      emulator,
    })
    nodes.push(client)
    const server = await startNode({
      dataDir: join(ctx.workDir, 'lfn-server'),
      link: originLink(),
      template,
      emulator,
    })
    nodes.push(server)
    const bytes = dataset.bytes
    await server.libp2p.handle(BULK_PROTOCOL, async (stream) => {
      const block = new Uint8Array(64 * 1024)
      for (let sent = 0; sent < bytes; sent += block.byteLength) {
        if (!stream.send(block)) await stream.onDrain()
      }
      await stream.close()
    })
    await connect(client, server)
    dilation.factor = K

    // bare stream: steady rate after the first MiB, and when a 100 ms window first reaches 90%
    const stream = await client.libp2p.dialProtocol(server.peerId, BULK_PROTOCOL)
    const opened = performance.now()
    const arrivals: Array<[at: number, total: number]> = []
    let got = 0
    for await (const buf of stream) {
      got += buf.byteLength
      arrivals.push([performance.now(), got])
    }
    const firstMiB = arrivals.find(([, total]) => total >= MiB) ?? arrivals[0]
    const last = arrivals.at(-1)
    const bareSteady =
      firstMiB !== undefined && last !== undefined && last[0] > firstMiB[0]
        ? (last[1] - firstMiB[1]) / ((last[0] - firstMiB[0]) / K / 1000) / rate
        : Number.NaN
    const windowMs = 100 * K
    let reach90Ms = Number.NaN
    for (let i = 0, j = 0; i < arrivals.length; i++) {
      const [at, total] = arrivals[i] as [number, number]
      while ((arrivals[j] as [number, number])[0] < at - windowMs) j++
      const [from, before] = arrivals[j] as [number, number]
      if (at - from >= 0.9 * windowMs && (total - before) / ((at - from) / K / 1000) >= 0.9 * rate) {
        reach90Ms = (at - opened) / K
        break
      }
    }

    // the chunk protocol: 16 requests of 1 MiB in flight on one session, as the experiment reads
    const { lanes, close } = await sessionLanes(
      client.libp2p,
      [{ peerId: server.peerId, kind: 'origin', label: 'origin' }],
      16,
      K,
    )
    let chunkSteady = Number.NaN
    let firstChunkRtts = Number.NaN
    try {
      const m = await consume({ items: sequentialItems(dataset.manifest), lanes })
      chunkSteady = ((m.steadyBytesPerSec ?? Number.NaN) * K) / rate
      firstChunkRtts = m.firstChunkMs / K / rttMs
    } finally {
      await close()
    }
    const where = `1 Gbit/s x ${rttMs.toFixed(0)} ms, dilated K=${K} (this machine's CPU is not the limit)`
    return [
      checked('long_fat_link.bare_stream_steady', bareSteady, 'of rate', '>=', 0.9, where),
      checked('long_fat_link.chunk_protocol_16x1MiB_steady', chunkSteady, 'of rate', '>=', 0.9, where),
      info('long_fat_link.first_chunk_fresh_stream', firstChunkRtts, 'RTTs', where),
      info('long_fat_link.bare_stream_reaches_90pct', reach90Ms / rttMs, 'RTTs', where),
    ]
  } finally {
    dilation.factor = 1
    await stopAll(nodes)
  }
}
