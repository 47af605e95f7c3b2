/**
 * Multi-source across processes: k providers, each capping its offered uplink at R, spread over
 * PROVIDER_PROCESSES processes (each with its own event loop), and the fetcher in a process of its
 * own, as machines are. achieved / (k x R) over the steady part of the fetch. In one process
 * (the multi-source section) every node shares one event loop, which is what held k = 16 at
 * 0.33-0.81 there.
 */
import { join } from 'node:path'
import { makeDataset } from './cluster.ts'
import { PeerProcess } from './cross-process-protocol.ts'
import type { SwarmFetch, SwarmRequest } from './swarm-host.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const HOST_SCRIPT = join(import.meta.dirname, 'swarm-host.ts')
const CHUNK_BYTES = 256 * 1024
/** Each provider's offered uplink (CLAIM.md: median residential upload ~20-27 Mbit/s). */
const PER_PROVIDER_MBPS = 20
const PROVIDER_PROCESSES = 2

type Host = PeerProcess<SwarmRequest>

export async function multiSourceProcessesBench(ctx: BenchContext): Promise<BenchResult[]> {
  // One size for every k: each provider chunks and hashes the whole dataset when it adds it, so
  // bytes growing with k would cost k^2 (64 nodes x 640 MB at k = 64). 96 MiB is 2.5 s at k = 16.
  const bytes = (ctx.quick ? 4 : 96) * 2 ** 20
  const results: BenchResult[] = []
  for (const k of ctx.quick ? [4] : [16, 32, 64]) {
    const hosts: Host[] = []
    try {
      const start = (role: 'provider' | 'fetcher', name: string): Promise<Host> =>
        PeerProcess.start<SwarmRequest>({
          role,
          script: HOST_SCRIPT,
          host: '127.0.0.1',
          dataDir: join(ctx.workDir, `processes-k${k}-${name}`),
          log: (line) => ctx.log(`multi-process ${name}: ${line}`),
        })
      const fetcher = await start('fetcher', 'fetcher')
      hosts.push(fetcher)
      const [client] = await fetcher.request<Array<{ multiaddrs: string[] }>>({
        op: 'start',
        count: 1,
        uplinkMbps: 0,
      })
      const bootstrap = client?.multiaddrs[0]
      if (bootstrap === undefined) throw new Error('the fetcher has no address')
      const providers = await Promise.all(
        Array.from({ length: PROVIDER_PROCESSES }, (_, i) => start('provider', `providers-${i}`)),
      )
      hosts.push(...providers)
      const dir = await makeDataset(join(ctx.workDir, `processes-k${k}-data`), bytes, 1)
      let cid = ''
      for (const [i, host] of providers.entries()) {
        const count = Math.floor(k / PROVIDER_PROCESSES) + (i < k % PROVIDER_PROCESSES ? 1 : 0)
        await host.request({ op: 'start', count, uplinkMbps: PER_PROVIDER_MBPS })
        await host.request({ op: 'dial', multiaddr: bootstrap })
        cid = await host.request<string>({ op: 'add', path: dir, chunkSize: CHUNK_BYTES })
      }
      await Promise.all(providers.map((host) => host.request({ op: 'cpu-mark' })))
      const fetch = await fetcher.request<SwarmFetch>({ op: 'fetch', cid, providers: k })
      // the providers' CPU over the fetch (its DHT lookup included), beside the fetcher's
      const providerCpu = (
        await Promise.all(providers.map((host) => host.request<number>({ op: 'cpu-read' })))
      ).reduce((sum, seconds) => sum + seconds, 0)
      const ratio = (fetch.steadyBytesPerSec * 8) / 1e6 / (k * PER_PROVIDER_MBPS)
      const cpuPerGB = fetch.cpuSeconds / (fetch.bytes / 1e9)
      ctx.log(
        `multi-process k=${k}: ${ratio.toFixed(3)} of ${k} x ${PER_PROVIDER_MBPS} Mbit/s, ${fetch.used} used, ` +
          `fetcher ${cpuPerGB.toFixed(1)} CPU-s/GB (${(fetch.cpuSeconds / fetch.seconds).toFixed(2)} cores), ` +
          `providers ${(providerCpu / fetch.seconds).toFixed(2)} cores`,
      )
      const note = `R = ${PER_PROVIDER_MBPS} Mbit/s, ${fetch.used} used, providers in ${PROVIDER_PROCESSES} processes`
      // the goal is k = 16; larger swarms are reported beside it
      results.push(
        k === 16 || ctx.quick
          ? checked(`multi_process.k${k}`, ratio, 'of k x R', '>=', 0.9, note)
          : info(`multi_process.k${k}`, ratio, 'of k x R', note),
        info(
          `multi_process.k${k}_provider_cores`,
          providerCpu / fetch.seconds,
          'cores',
          `the ${PROVIDER_PROCESSES} provider processes together, over the whole fetch`,
        ),
        info(
          `multi_process.k${k}_fetcher_cores`,
          fetch.cpuSeconds / fetch.seconds,
          'cores',
          `${cpuPerGB.toFixed(1)} CPU-s/GB at ${((fetch.bytes / fetch.seconds) * 8e-6).toFixed(0)} Mbit/s whole-fetch`,
        ),
      )
    } finally {
      await Promise.all(hosts.map((host) => host.stop()))
    }
  }
  return results
}
