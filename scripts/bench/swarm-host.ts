/**
 * A process holding several bwnode nodes, for benchmarks that spread a swarm over processes (each
 * with its own event loop, as separate machines have): started and driven over IPC by
 * cross-process-protocol.ts's PeerProcess, like cross-process-peer.ts.
 *
 *   node swarm-host.ts provider|fetcher HOST DATA_DIR
 *
 * (HOST must be 127.0.0.1: the nodes listen there, as src/lab/swarm.ts starts them.)
 *
 * Requests (SwarmRequest): start N nodes with an offered uplink; have every node dial an address;
 * add a dataset directory (made by the parent, the same bytes in every process, so the same CID) on
 * every node and announce it; on the first node, fetch a dataset from the providers the DHT finds
 * and time it; stop.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { stopAll } from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'
import { processCpuSeconds, sendReady, serveParent } from './child-ipc.ts'
import { provideDataset, startBwnode, timedFetch, waitForProviders } from './cluster.ts'

export type SwarmRequest =
  | { op: 'start'; count: number; uplinkMbps: number }
  | { op: 'dial'; multiaddr: string }
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
/** kad-dht's K: a provider lookup ends once it has found this many. */
const DHT_K = 20

async function handle(request: SwarmRequest | { op: 'stop' }): Promise<unknown> {
  switch (request.op) {
    case 'start': {
      for (let i = 0; i < request.count; i++) {
        nodes.push(
          await startBwnode(dataDir as string, { offer: { uplinkMbps: request.uplinkMbps, pricePerGiB: 0 } }),
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
