import { join } from 'node:path'
import type { Bwnode } from '../../src/node/bwnode.ts'
import {
  connect,
  makeDataset,
  provideDataset,
  startBwnode,
  stopAll,
  timedFetch,
  waitForProviders,
} from './cluster.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const CHUNK_BYTES = 256 * 1024

/** Both ends get half the round trip as access latency and the same rate each way. */
function link(rttMs: number, mbps: number) {
  return { accessLatencyMs: rttMs / 4, uplinkMbps: mbps, downlinkMbps: mbps, position: { x: 0, y: 0 } }
}

/**
 * One provider and one client on an emulated link (config.link on both), a
 * dataset of `chunks` chunks. Returns achieved / configured rate over the
 * steady part of the fetch (first stored chunk to last).
 */
async function cell(
  ctx: BenchContext,
  rttMs: number,
  mbps: number,
  chunks: number,
  maxWindow?: number,
): Promise<number> {
  const nodes: Bwnode[] = []
  try {
    const offer = { uplinkMbps: 0, pricePerGiB: 0 }
    const provider = await startBwnode(ctx.workDir, { offer, link: link(rttMs, mbps) })
    nodes.push(provider)
    const client = await startBwnode(ctx.workDir, { offer, link: link(rttMs, mbps) })
    nodes.push(client)
    await connect(client, provider)
    const dir = await makeDataset(
      join(ctx.workDir, `emulated-${rttMs}-${mbps}-${maxWindow ?? 'w'}`),
      chunks * CHUNK_BYTES,
      1,
    )
    const cid = await provideDataset([provider], dir, CHUNK_BYTES)
    await waitForProviders(client, cid, 1)
    const fetch = await timedFetch(client, cid, {
      maxProviders: 1,
      ...(maxWindow === undefined ? {} : { maxWindow }),
    })
    return (fetch.steadyBytesPerSec * 8) / 1e6 / mbps
  } finally {
    await stopAll(nodes)
  }
}

/**
 * Section 3: bulk fetch over emulated links at RTT 2/20/100 ms and 10-200
 * Mbit/s. The pipelined fetch should reach >= 0.9 of the configured rate at
 * every RTT; the same link with one request in flight shows what pipelining buys.
 */
export async function emulatedBench(ctx: BenchContext): Promise<BenchResult[]> {
  const seconds = ctx.quick ? 0.6 : 2.5
  const grid: Array<[number, number]> = ctx.quick
    ? [[20, 50]]
    : [
        [2, 10],
        [2, 200],
        [20, 10],
        [20, 50],
        [20, 200],
        [100, 10],
        [100, 50],
        [100, 200],
      ]
  const results: BenchResult[] = []
  for (const [rttMs, mbps] of grid) {
    const chunks = Math.max(12, Math.round((mbps * 1e6 * seconds) / 8 / CHUNK_BYTES))
    const ratio = await cell(ctx, rttMs, mbps, chunks)
    ctx.log(`emulated rtt ${rttMs} ms, ${mbps} Mbit/s, ${chunks} chunks: ${ratio.toFixed(3)}`)
    results.push(checked(`emulated.rtt${rttMs}ms_${mbps}mbps`, ratio, 'of rate', '>=', 0.95, 'pipelined'))
  }
  const singleRate = 50
  for (const rttMs of ctx.quick ? [20] : [2, 20, 100]) {
    const ratio = await cell(ctx, rttMs, singleRate, ctx.quick ? 6 : 12, 1)
    ctx.log(`emulated rtt ${rttMs} ms, ${singleRate} Mbit/s, 1 in flight: ${ratio.toFixed(3)}`)
    results.push(
      info(`emulated.rtt${rttMs}ms_${singleRate}mbps_1_in_flight`, ratio, 'of rate', 'maxWindow 1'),
    )
  }
  return results
}
