/**
 * A process holding several bwnode nodes, for benchmarks that spread a swarm over processes (each
 * with its own event loop, as separate machines have): started and driven over IPC by
 * cross-process-protocol.ts's PeerProcess, like cross-process-peer.ts.
 *
 *   node swarm-host.ts provider|fetcher HOST DATA_DIR
 *
 * (HOST must be 127.0.0.1: the nodes listen there, as src/lab/swarm.ts starts them.)
 *
 * Requests (SwarmRequest): start N nodes with an offered uplink (and each its emulated link); have
 * every node dial an address, or each node its own list; add a dataset directory (made by the
 * parent, the same bytes in every process, so the same CID) on every node and announce it; on the
 * first node, fetch a dataset from the providers the DHT finds and time it; on one node, provide a
 * key or walk the DHT for its first provider; the process's memory and the nodes' routing tables;
 * stop.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { ConfigInput } from '../../src/config/schema.ts'
import { stopAll } from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'
import { collectGarbage, processCpuSeconds, sendReady, serveParent } from './child-ipc.ts'
import { provideDataset, startBwnode, timedFetch, waitForProviders } from './cluster.ts'
import { type FirstProvider, findFirstProvider, keyCid } from './dht-walk.ts'

export type SwarmRequest =
  | {
      op: 'start'
      count: number
      uplinkMbps: number
      /** Node i's emulated link (links[i]); none: no emulation. */
      links?: NonNullable<ConfigInput['link']>[]
      /** The latency recorder's ping interval; default: once an hour (the bench's quiet preset). */
      pingIntervalMs?: number
    }
  | { op: 'dial'; multiaddr: string }
  /** Node i dials every address of addrs[i]; answers how many dials failed. */
  | { op: 'connect'; addrs: string[][] }
  /** Node `node` provides the CID of `key` (sha-256 of its text, raw); answers the time it took, ms. */
  | { op: 'provide'; node: number; key: string; timeoutMs: number }
  /** Node `node` walks the DHT for the first provider of `key`'s CID. */
  | { op: 'find'; node: number; key: string; timeoutMs: number }
  /** After a full collection: this process's RSS and the nodes' routing-table sizes. */
  | { op: 'usage' }
  | { op: 'add'; path: string; chunkSize: number }
  | { op: 'fetch'; cid: string; providers: number }
  /** Starts counting this process's CPU time; 'cpu-read' returns seconds of it since. */
  | { op: 'cpu-mark' }
  | { op: 'cpu-read' }

export interface SwarmFetch {
  bytes: number
  seconds: number
  steadyBytesPerSec: number
  /** Providers that delivered at least one chunk. */
  used: number
  /** CPU of this whole process over the fetch, seconds (every thread). */
  cpuSeconds: number
}

const [role, host, dataDir] = process.argv.slice(2)
if (!role || host !== '127.0.0.1' || !dataDir || process.send === undefined) {
  console.error('usage (as a child with an IPC channel): swarm-host.ts provider|fetcher HOST DATA_DIR')
  process.exit(2)
}
const nodes: Bwnode[] = []
let cpuMark = 0
/** Dials a node makes at once while connecting the swarm. */
const DIAL_CONCURRENCY = 8

export interface SwarmUsage {
  rssBytes: number
  nodes: number
  routingTableSizes: number[]
}

function nodeAt(index: number): Bwnode {
  const node = nodes[index]
  if (node === undefined) throw new Error(`no node ${index} (${nodes.length} started)`)
  return node
}

/** Runs `work` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}
/** kad-dht's K: a provider lookup ends once it has found this many. */
const DHT_K = 20

async function handle(request: SwarmRequest | { op: 'stop' }): Promise<unknown> {
  switch (request.op) {
    case 'start': {
      for (let i = 0; i < request.count; i++) {
        const link = request.links?.[i]
        nodes.push(
          await startBwnode(dataDir as string, {
            offer: { uplinkMbps: request.uplinkMbps, pricePerGiB: 0 },
            ...(link === undefined ? {} : { link }),
            ...(request.pingIntervalMs === undefined
              ? {}
              : { latency: { pingIntervalMs: request.pingIntervalMs } }),
          }),
        )
      }
      return nodes.map((node) => ({
        peerId: node.peerId.toString(),
        multiaddrs: node.libp2p.getMultiaddrs().map((a) => a.toString()),
      }))
    }
    case 'dial':
      await Promise.all(nodes.map((node) => node.libp2p.dial(multiaddr(request.multiaddr))))
      return true
    case 'connect': {
      let failed = 0
      const dials = request.addrs.flatMap((addrs, i) => addrs.map((addr) => ({ node: nodeAt(i), addr })))
      await eachLimited(dials, DIAL_CONCURRENCY, async ({ node, addr }) => {
        await node.libp2p.dial(multiaddr(addr)).catch(() => failed++)
      })
      return failed
    }
    case 'provide': {
      const cid = await keyCid(request.key)
      const started = performance.now()
      await nodeAt(request.node).libp2p.contentRouting.provide(cid, {
        signal: AbortSignal.timeout(request.timeoutMs),
      })
      return performance.now() - started
    }
    case 'find':
      return (await findFirstProvider(
        nodeAt(request.node).libp2p.services.dht,
        nodeAt(request.node).peerId,
        await keyCid(request.key),
        request.timeoutMs,
      )) satisfies FirstProvider
    case 'usage':
      collectGarbage()
      return {
        rssBytes: process.memoryUsage().rss,
        nodes: nodes.length,
        routingTableSizes: nodes.map((node) => node.libp2p.services.dht.routingTable.size),
      } satisfies SwarmUsage
    case 'add':
      return (await provideDataset(nodes, request.path, request.chunkSize)).toString()
    case 'fetch': {
      const client = nodes[0]
      if (client === undefined) throw new Error('fetch before start')
      const cid: CID = parseDatasetCid(request.cid)
      // one DHT lookup yields at most K providers (kad-dht stops at its bucket size, 20)
      await waitForProviders(client, cid, Math.min(request.providers, DHT_K), 60_000)
      const cpuBefore = processCpuSeconds()
      const fetch = await timedFetch(client, cid, { maxProviders: request.providers })
      return {
        bytes: fetch.result.bytes,
        seconds: fetch.seconds,
        steadyBytesPerSec: fetch.steadyBytesPerSec,
        used: fetch.result.providers.filter((p) => p.bytes > 0).length,
        cpuSeconds: processCpuSeconds() - cpuBefore,
      } satisfies SwarmFetch
    }
    case 'cpu-mark':
      cpuMark = processCpuSeconds()
      return true
    case 'cpu-read':
      return processCpuSeconds() - cpuMark
    case 'stop':
      await stopAll(nodes)
      setTimeout(() => process.exit(0), 50)
      return true
  }
}

serveParent(handle)
sendReady({ ready: { peerId: '', multiaddrs: [] } })
