import { join } from 'node:path'
import { connect, stopAll } from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { makeDataset, provideDataset, startBwnode, timedFetch, waitForProviders } from './cluster.ts'
import { type BenchContext, type BenchResult, checked } from './types.ts'

const CHUNK_BYTES = 256 * 1024
/** Each provider's offered uplink (CLAIM.md: median residential upload ~20-27 Mbit/s). */
const PER_PROVIDER_MBPS = 20

/**
 * Section 4: k providers, each capping its uplink at R by its offer (token
 * bucket in the serve policy), one client on loopback: achieved / (k x R)
 * over the steady part of the fetch.
 */
export async function multiSourceBench(ctx: BenchContext): Promise<BenchResult[]> {
  const seconds = ctx.quick ? 0.8 : 3
  const results: BenchResult[] = []
  for (const k of ctx.quick ? [1, 4] : [1, 4, 16]) {
    const nodes: Bwnode[] = []
    try {
      const client = await startBwnode(ctx.workDir, { offer: { uplinkMbps: 0, pricePerGiB: 0 } })
      nodes.push(client)
      const providers: Bwnode[] = []
      for (let i = 0; i < k; i++) {
        providers.push(
          await startBwnode(ctx.workDir, { offer: { uplinkMbps: PER_PROVIDER_MBPS, pricePerGiB: 0 } }),
        )
      }
      nodes.push(...providers)
      for (const provider of providers) await connect(client, provider)
      const bytes = Math.max(16 * CHUNK_BYTES, (k * PER_PROVIDER_MBPS * 1e6 * seconds) / 8)
      const dir = await makeDataset(join(ctx.workDir, `multi-${k}`), bytes, 1)
      const cid = await provideDataset(providers, dir, CHUNK_BYTES)
      await waitForProviders(client, cid, k)
      const fetch = await timedFetch(client, cid, { maxProviders: k })
      const used = fetch.result.providers.filter((p) => p.bytes > 0).length
      const ratio = (fetch.steadyBytesPerSec * 8) / 1e6 / (k * PER_PROVIDER_MBPS)
      ctx.log(`multi-source k=${k}: ${ratio.toFixed(3)} of ${k} x ${PER_PROVIDER_MBPS} Mbit/s, ${used} used`)
      results.push(
        checked(
          `multi_source.k${k}`,
          ratio,
          'of k x R',
          '>=',
          0.85,
          `R = ${PER_PROVIDER_MBPS} Mbit/s, ${used} used`,
        ),
      )
    } finally {
      await stopAll(nodes)
    }
  }
  return results
}
