import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { DHT_PROTOCOL } from '../../src/node/libp2p.ts'
import { Xoshiro128 } from '../../src/store/prng.ts'
import { collectGarbage } from './child-ipc.ts'
import { findFirstProvider, keyCid } from './dht-walk.ts'
import { type BenchContext, type BenchResult, checked, info, percentile } from './types.ts'

type DhtNode = Libp2p<{ dht: KadDHT; identify: unknown; ping: unknown }>

/** A minimal node with the bwnode DHT settings (private protocol, server mode, loopback addresses kept). */
function dhtNode(): Promise<DhtNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 256 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        initialQuerySelfInterval: 200,
      }),
    },
  })
}

/**
 * Section 5: a DHT of 100+ nodes in this process: provide and findProviders
 * times and hops (p50/p99), and memory per node (RSS delta / nodes).
 */
/** A walk slower than this counts as failed (ms); the IPFS public DHT's mean is ~0.6 s. */
const WALK_TIMEOUT_MS = 10_000

export async function dhtBench(ctx: BenchContext): Promise<BenchResult[]> {
  const count = ctx.quick ? 16 : 120
  // Each provide walks the whole network; 20 lookups keep the section within a few minutes.
  const lookups = ctx.quick ? 6 : 20
  const random = new Xoshiro128(7)
  const pick = (n: number): number => random.next() % n
  collectGarbage()
  const rssBefore = process.memoryUsage().rss
  const nodes: DhtNode[] = []
  try {
    for (let i = 0; i < count; i++) {
      const node = await dhtNode()
      await node.start()
      nodes.push(node)
    }
    // Each node joins through a few earlier ones; the DHT's self-lookups fill the routing tables.
    for (let i = 1; i < count; i++) {
      const node = nodes[i] as DhtNode
      const targets = new Set<number>()
      while (targets.size < Math.min(3, i)) targets.add(pick(i))
      for (const t of targets) {
        await node.dial((nodes[t] as DhtNode).getMultiaddrs()[0]!).catch(() => {})
      }
    }
    await new Promise((resolve) => setTimeout(resolve, ctx.quick ? 1_500 : 5_000))
    collectGarbage()
    const perNodeMB = (process.memoryUsage().rss - rssBefore) / count / 1e6
    ctx.log(`dht: ${count} nodes up, ${perNodeMB.toFixed(1)} MB RSS per node`)

    const provideMs: number[] = []
    const findMs: number[] = []
    const hops: number[] = []
    let failed = 0
    for (let i = 0; i < lookups; i++) {
      const cid = await keyCid(`bench-dht-${i}`)
      const provider = nodes[pick(count)] as DhtNode
      let seeker = nodes[pick(count)] as DhtNode
      while (seeker === provider) seeker = nodes[pick(count)] as DhtNode
      // On an overloaded machine a walk can time out; count it rather than lose the section.
      try {
        const started = performance.now()
        await provider.contentRouting.provide(cid, { signal: AbortSignal.timeout(WALK_TIMEOUT_MS) })
        provideMs.push(performance.now() - started)
        const found = await findFirstProvider(seeker.services.dht, seeker.peerId, cid, WALK_TIMEOUT_MS)
        findMs.push(found.ms)
        hops.push(found.hops)
      } catch (err) {
        failed++
        ctx.log(`dht lookup ${i} failed: ${(err as Error).message}`)
      }
    }
    ctx.log(`dht: ${lookups} provides and lookups done`)
    return [
      info('dht.nodes', count, 'nodes'),
      checked('dht.lookups_failed', failed, 'of ' + String(lookups), '<=', 0),
      info('dht.provide_p50', percentile(provideMs, 50), 'ms'),
      info('dht.provide_p99', percentile(provideMs, 99), 'ms'),
      info('dht.find_providers_p50', percentile(findMs, 50), 'ms', 'to the first provider'),
      info('dht.find_providers_p99', percentile(findMs, 99), 'ms'),
      info('dht.hops_p50', percentile(hops, 50), 'hops'),
      info('dht.hops_p99', percentile(hops, 99), 'hops'),
      checked('dht.rss_per_node', perNodeMB, 'MB', '<=', 20, 'RSS delta / nodes'),
    ]
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()))
  }
}
