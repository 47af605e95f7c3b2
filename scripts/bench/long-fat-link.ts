/**
 * A long fat link (the experiment's distant origin: 1 Gbit/s, ~99 ms RTT) in dilated time, so this
 * machine's CPU is not what limits it: a bare libp2p stream and the chunk protocol (16 requests of
 * 1 MiB in flight) side by side on the same emulated link, steady-state rate / configured rate, and
 * start-up in round trips, each on a fresh stream (its yamux window starts at 256 KiB) and on a
 * warm one (the same stream again, its window already grown).
 */
import type { Stream } from '@libp2p/interface'
import { originLink, placementPaths } from '../../src/experiment/scenarios.ts'
import { consume, sequentialItems, sessionLanes } from '../../src/experiment/workloads.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { withDilatedLab } from './dilated-lab.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const BULK_PROTOCOL = '/bwnode-bench/bulk/1.0.0'
/** Dilation of this section: the CPU has K times more time per emulated byte. */
const K = 8
const MiB = 2 ** 20
/** The client writes this byte to ask for the next round of bulk bytes on the same stream. */
const AGAIN = new Uint8Array([1])

/** How one transfer went, in undilated time. */
interface Transfer {
  /** Rate after the first MiB / configured rate. */
  steady: number
  /** From asking to the first moment a 100 ms window ran at >= 90% of the rate, in RTTs. */
  reach90Rtts: number
}

/** Arrivals [performance.now(), bytes so far] of one transfer that started at `askedAt`. */
function measure(arrivals: Array<[number, number]>, askedAt: number, rate: number, rttMs: number): Transfer {
  const firstMiB = arrivals.find(([, total]) => total >= MiB) ?? arrivals[0]
  const last = arrivals.at(-1)
  const steady =
    firstMiB !== undefined && last !== undefined && last[0] > firstMiB[0]
      ? (last[1] - firstMiB[1]) / ((last[0] - firstMiB[0]) / K / 1000) / rate
      : Number.NaN
  const windowMs = 100 * K
  let reach90Rtts = Number.NaN
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    const [at, total] = arrivals[i] as [number, number]
    while ((arrivals[j] as [number, number])[0] < at - windowMs) j++
    const [from, before] = arrivals[j] as [number, number]
    if (at - from >= 0.9 * windowMs && (total - before) / ((at - from) / K / 1000) >= 0.9 * rate) {
      reach90Rtts = (at - askedAt) / K / rttMs
      break
    }
  }
  return { steady, reach90Rtts }
}

/** Serves `rounds` rounds of `bytes` on one stream, each after the client's AGAIN byte. */
function serveBulk(bytes: number) {
  return async (stream: Stream): Promise<void> => {
    const block = new Uint8Array(MiB)
    for await (const _ask of stream) {
      for (let sent = 0; sent < bytes; sent += block.byteLength) {
        if (!stream.send(block)) await stream.onDrain()
      }
    }
    await stream.close()
  }
}

/** Two rounds on one bare stream: the first on a fresh window, the second on the grown one. */
async function bareRounds(
  client: Bwnode,
  server: Bwnode,
  bytes: number,
  rate: number,
  rttMs: number,
): Promise<{ fresh: Transfer; warm: Transfer }> {
  const stream = await client.libp2p.dialProtocol(server.peerId, BULK_PROTOCOL)
  const reader = stream[Symbol.asyncIterator]()
  const round = async (): Promise<Transfer> => {
    const askedAt = performance.now()
    stream.send(AGAIN)
    const arrivals: Array<[number, number]> = []
    let got = 0
    while (got < bytes) {
      const next = await reader.next()
      if (next.done === true) throw new Error(`bulk stream ended after ${got} of ${bytes} bytes`)
      got += next.value.byteLength
      arrivals.push([performance.now(), got])
    }
    return measure(arrivals, askedAt, rate, rttMs)
  }
  const fresh = await round()
  const warm = await round()
  await stream.close()
  return { fresh, warm }
}

export async function longFatLinkBench(ctx: BenchContext): Promise<BenchResult[]> {
  const [path] = placementPaths('P3-origin')
  if (path === undefined) throw new Error('no origin path')
  const rate = path.rateBytesPerSec
  const rttMs = path.rttMs
  const totalMiB = ctx.quick ? 32 : 384
  const lab = { name: 'lfn', totalMiB, K, providers: [{ name: 'server', link: originLink() }], pings: 3 }
  return withDilatedLab(ctx.workDir, lab, async ({ consumer: client, providers: [server], dataset }) => {
    if (server === undefined) throw new Error('no server node')
    await server.libp2p.handle(BULK_PROTOCOL, serveBulk(dataset.bytes))
    const bare = await bareRounds(client, server, dataset.bytes, rate, rttMs)
    ctx.log(
      `long fat link, bare stream: fresh ${bare.fresh.steady.toFixed(3)} of rate (90% after ` +
        `${bare.fresh.reach90Rtts.toFixed(1)} RTTs), warm ${bare.warm.steady.toFixed(3)} ` +
        `(${bare.warm.reach90Rtts.toFixed(1)} RTTs)`,
    )

    // the chunk protocol: 16 requests of 1 MiB in flight on one session, as the experiment reads;
    // the same session twice, so the second read runs on a grown window
    const { lanes, close } = await sessionLanes(
      client.libp2p,
      [{ peerId: server.peerId, kind: 'origin', label: 'origin' }],
      16,
      K,
    )
    const chunk: Array<{ steady: number; firstChunkRtts: number; reach90Rtts: number }> = []
    try {
      for (let i = 0; i < 2; i++) {
        // every chunk's arrival, for the time to reach 90% of the rate
        const arrivals: Array<[number, number]> = []
        let got = 0
        const timedLanes = lanes.map((lane) => ({
          ...lane,
          read: async (key: string) => {
            const bytes = await lane.read(key)
            got += bytes.byteLength
            arrivals.push([performance.now(), got])
            return bytes
          },
        }))
        const askedAt = performance.now()
        const m = await consume({ items: sequentialItems(dataset.manifest), lanes: timedLanes })
        chunk.push({
          steady: ((m.steadyBytesPerSec ?? Number.NaN) * K) / rate,
          firstChunkRtts: m.firstChunkMs / K / rttMs,
          reach90Rtts: measure(arrivals, askedAt, rate, rttMs).reach90Rtts,
        })
      }
    } finally {
      await close()
    }
    const [fresh, warm] = chunk as [(typeof chunk)[0], (typeof chunk)[0]]
    ctx.log(
      `long fat link, chunk protocol: fresh session ${fresh.steady.toFixed(3)} of rate (first chunk ` +
        `${fresh.firstChunkRtts.toFixed(1)} RTTs, 90% after ${fresh.reach90Rtts.toFixed(1)}), warm ` +
        `${warm.steady.toFixed(3)} (${warm.firstChunkRtts.toFixed(1)} RTTs, 90% after ${warm.reach90Rtts.toFixed(1)})`,
    )
    const where = `1 Gbit/s x ${rttMs.toFixed(0)} ms, dilated K=${K} (this machine's CPU is not the limit)`
    return [
      checked('long_fat_link.bare_stream_steady', bare.fresh.steady, 'of rate', '>=', 0.9, where),
      checked('long_fat_link.bare_stream_warm_steady', bare.warm.steady, 'of rate', '>=', 0.9, where),
      info('long_fat_link.bare_stream_reaches_90pct', bare.fresh.reach90Rtts, 'RTTs', where),
      info('long_fat_link.bare_stream_warm_reaches_90pct', bare.warm.reach90Rtts, 'RTTs', where),
      checked('long_fat_link.chunk_protocol_16x1MiB_steady', fresh.steady, 'of rate', '>=', 0.9, where),
      checked('long_fat_link.chunk_protocol_warm_steady', warm.steady, 'of rate', '>=', 0.9, where),
      info('long_fat_link.first_chunk_fresh_stream', fresh.firstChunkRtts, 'RTTs', where),
      info('long_fat_link.first_chunk_warm_stream', warm.firstChunkRtts, 'RTTs', where),
      info(
        'long_fat_link.chunk_protocol_reaches_90pct',
        fresh.reach90Rtts,
        'RTTs',
        `${where}; fresh session`,
      ),
      info(
        'long_fat_link.chunk_protocol_warm_reaches_90pct',
        warm.reach90Rtts,
        'RTTs',
        `${where}; warm session`,
      ),
    ]
  })
}
