import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, stopAll } from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { median } from '../../src/util/stats.ts'
import { receiveBare, receiveTcp, serveBare, serveTcp } from './baselines.ts'
import { makeDataset, provideDataset, startBwnode, timedFetch, waitForProviders } from './cluster.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const BARE_PROTOCOL = '/bwnode/bench/bare/1.0.0'
const PIECE_BYTES = 1024 * 1024

/** The dataset's bytes in 1 MiB pieces, as both baselines send them. */
async function pieces(dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const name of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, name))
    for (let at = 0; at < bytes.byteLength; at += PIECE_BYTES) out.push(bytes.subarray(at, at + PIECE_BYTES))
  }
  return out
}

/** Raw Node TCP on 127.0.0.1: the ceiling for anything that runs over a socket here. */
async function rawTcpRate(port: number): Promise<number> {
  const started = performance.now()
  const bytes = await receiveTcp('127.0.0.1', port)
  return (bytes * 1000) / (performance.now() - started)
}

/** The same bytes on one libp2p stream (TCP + noise + yamux), respecting backpressure, no protocol. */
async function bareRate(client: Bwnode, server: Bwnode): Promise<number> {
  const started = performance.now()
  const received = await receiveBare(client, server.peerId, BARE_PROTOCOL)
  return (received * 1000) / (performance.now() - started)
}

/**
 * Section 1: loopback throughput, four ways side by side in the same run, in
 * alternating order each round: raw TCP, a bare libp2p stream, a bwnode fetch
 * from one peer, a bwnode fetch from four peers. Plus the voucher cost: the
 * one-peer fetch from a provider that charges, against one that does not.
 */
export async function loopbackBench(ctx: BenchContext): Promise<BenchResult[]> {
  const totalBytes = (ctx.quick ? 16 : 128) * 1024 * 1024
  const rounds = ctx.quick ? 1 : 3
  const free = await makeDataset(join(ctx.workDir, 'loopback-free'), totalBytes)
  const paid = await makeDataset(join(ctx.workDir, 'loopback-paid'), totalBytes)
  const data = await pieces(free)
  const tcp = await serveTcp(data)
  const nodes: Bwnode[] = []
  try {
    const client = await startBwnode(ctx.workDir, { offer: { uplinkMbps: 0, pricePerGiB: 0 } })
    nodes.push(client)
    const providers: Bwnode[] = []
    for (let i = 0; i < 4; i++) {
      providers.push(await startBwnode(ctx.workDir, { offer: { uplinkMbps: 0, pricePerGiB: 0 } }))
    }
    const charging = await startBwnode(ctx.workDir, { offer: { uplinkMbps: 0, pricePerGiB: 1 } })
    nodes.push(...providers, charging)
    for (const other of [...providers, charging]) await connect(client, other)
    for (const provider of providers) await connect(charging, provider)
    await serveBare(providers[0] as Bwnode, BARE_PROTOCOL, data)
    const freeCid = await provideDataset(providers, free)
    const paidCid = await provideDataset([charging], paid)
    await waitForProviders(client, freeCid, 4)
    await waitForProviders(client, paidCid, 1)
    ctx.log(`loopback: ${totalBytes / 2 ** 20} MiB, ${rounds} round(s)`)

    // The one-peer fetch's rate between its first and last stored chunk: the data path alone,
    // without the DHT lookup, manifest and HAVE round trips the whole-fetch figure includes.
    const steady: number[] = []
    const runs: Record<string, () => Promise<number>> = {
      raw: () => rawTcpRate(tcp.port),
      bare: () => bareRate(client, providers[0] as Bwnode),
      fetch1: async () => {
        const fetched = await timedFetch(client, freeCid, { maxProviders: 1 })
        steady.push(fetched.steadyBytesPerSec)
        return bytesPerSec(fetched)
      },
      fetch4: async () => bytesPerSec(await timedFetch(client, freeCid, { maxProviders: 4 })),
      paid1: async () => bytesPerSec(await timedFetch(client, paidCid, { maxProviders: 1 })),
    }
    // Warm-up: JIT, yamux windows, connections, page cache.
    for (const run of Object.values(runs)) await run()
    const rates: Record<string, number[]> = {}
    const names = Object.keys(runs)
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse()
      for (const name of order) {
        const rate = await (runs[name] as () => Promise<number>)()
        rates[name] = [...(rates[name] ?? []), rate]
      }
    }
    const m = (name: string): number => median(rates[name] ?? [])
    const mb = (name: string): number => m(name) / 1e6
    ctx.log(
      `loopback MB/s: raw ${mb('raw').toFixed(0)}, bare ${mb('bare').toFixed(0)}, fetch1 ${mb('fetch1').toFixed(0)}, ` +
        `fetch4 ${mb('fetch4').toFixed(0)}, paid1 ${mb('paid1').toFixed(0)}`,
    )
    return [
      info('loopback.raw_tcp', mb('raw'), 'MB/s', 'raw Node TCP socket, 1 MiB writes'),
      info('loopback.bare_libp2p', mb('bare'), 'MB/s', 'one libp2p stream: TCP + noise + yamux'),
      info('loopback.fetch_1_peer', mb('fetch1'), 'MB/s', 'bwnode fetch, one provider, free'),
      info('loopback.fetch_4_peers', mb('fetch4'), 'MB/s', 'bwnode fetch, four providers, free'),
      info('loopback.bare_vs_raw_tcp', m('bare') / m('raw'), 'x', 'libp2p stack cost'),
      checked('loopback.fetch_1_vs_bare', m('fetch1') / m('bare'), 'x', '>=', 0.9),
      checked('loopback.fetch_4_vs_bare', m('fetch4') / m('bare'), 'x', '>=', 0.9),
      info(
        'loopback.fetch_1_steady_vs_bare',
        median(steady) / m('bare'),
        'x',
        'one-peer fetch, data path only',
      ),
      info('loopback.fetch_1_vs_raw_tcp', m('fetch1') / m('raw'), 'x'),
      info('loopback.fetch_4_vs_raw_tcp', m('fetch4') / m('raw'), 'x'),
      info('loopback.paid_vs_free_1_peer', m('paid1') / m('fetch1'), 'x', 'voucher cost at 1 credit/GiB'),
    ]
  } finally {
    await stopAll(nodes)
    await tcp.close()
  }
}

function bytesPerSec(fetch: { result: { bytes: number }; seconds: number }): number {
  return fetch.result.bytes / fetch.seconds
}
