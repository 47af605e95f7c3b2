/**
 * One peer of the cross-process benchmark, in a process of its own (started by
 * cross-process-protocol.ts, possibly inside a network namespace):
 *
 *   node cross-process-peer.ts provider|fetcher HOST DATA_DIR
 *
 * Both roles run a real Bwnode listening on HOST. The provider also serves each
 * dataset's bytes as the two baselines (plain TCP, a bare libp2p stream); the
 * fetcher pulls them all three ways and times each transfer. Both measure their
 * own CPU (process.cpuUsage) so each side's cost per byte is known separately.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parseConfig } from '../../src/config/load.ts'
import { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'
import { receiveBare, receiveTcp, serveBare, serveTcp } from './baselines.ts'
import { processCpuSeconds, sendReady, serveParent } from './child-ipc.ts'
import { fetcherOf, makeDataset, StoreStamps, waitForProviders } from './cluster.ts'
import type { Request, Role, ServedDataset, Transfer } from './cross-process-protocol.ts'

const PIECE_BYTES = 1024 * 1024
const BARE_PROTOCOL = '/bwnode/bench/cross-process/bare/1.0.0'
const PROVIDE_ATTEMPTS = 50

const [role, host, dataDir] = process.argv.slice(2) as [Role, string, string]
if ((role !== 'provider' && role !== 'fetcher') || !host || !dataDir || process.send === undefined) {
  console.error(
    'usage (as a child with an IPC channel): cross-process-peer.ts provider|fetcher HOST DATA_DIR',
  )
  process.exit(2)
}

/** The dataset's bytes in 1 MiB pieces, held in memory: the baselines send them as fast as they can. */
async function pieces(dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const name of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, name))
    for (let at = 0; at < bytes.byteLength; at += PIECE_BYTES) out.push(bytes.subarray(at, at + PIECE_BYTES))
  }
  return out
}

/**
 * A whole bwnode fetch (DHT lookup, manifest, chunks verified and stored). CPU
 * stops counting when the fetch resolves: removing the dataset afterwards, so the
 * next round starts empty, is not part of fetching it.
 */
async function fetchDataset(node: Bwnode, cidText: string): Promise<Transfer> {
  const cid = parseDatasetCid(cidText)
  const stamps = new StoreStamps(node.store)
  const cpuBefore = processCpuSeconds()
  const started = performance.now()
  try {
    const result = await fetcherOf(node).fetch(cid, { maxProviders: 1 })
    const seconds = (performance.now() - started) / 1000
    const cpu = processCpuSeconds() - cpuBefore
    return { bytes: result.bytes, seconds, cpuSeconds: cpu, steadyBytesPerSec: stamps.steadyBytesPerSec() }
  } finally {
    stamps.restore()
    await node.datasets.remove(cidText).catch(() => {})
  }
}

async function timed(receive: () => Promise<number>): Promise<Transfer> {
  const cpuBefore = processCpuSeconds()
  const started = performance.now()
  const bytes = await receive()
  return { bytes, seconds: (performance.now() - started) / 1000, cpuSeconds: processCpuSeconds() - cpuBefore }
}

const servers: Array<{ close(): Promise<void> }> = []
let cpuMark = { cpu: 0, at: 0 }
let profiler: Session | undefined

async function handle(node: Bwnode, request: Request): Promise<unknown> {
  switch (request.op) {
    case 'dataset': {
      const dir = await makeDataset(join(dataDir, 'datasets', request.key), request.bytes)
      const data = await pieces(dir)
      const info = await node.datasets.add(dir, {})
      const server = await serveTcp(data, host)
      servers.push(server)
      const bareProtocol = `${BARE_PROTOCOL}/${request.key}`
      await serveBare(node, bareProtocol, data)
      const bytes = data.reduce((sum, piece) => sum + piece.byteLength, 0)
      return { cid: info.cid, tcpPort: server.port, bareProtocol, bytes } satisfies ServedDataset
    }
    case 'provide': {
      // provide() is false until the node has a DHT peer; the fetcher may still be connecting.
      for (let attempt = 0; attempt < PROVIDE_ATTEMPTS; attempt++) {
        if (await node.datasets.provide(parseDatasetCid(request.cid))) return true
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`provide ${request.cid} failed ${PROVIDE_ATTEMPTS} times`)
    }
    case 'dial':
      await node.libp2p.dial(multiaddr(request.multiaddr))
      return true
    case 'wait-providers':
      await waitForProviders(node, parseDatasetCid(request.cid), 1)
      return true
    case 'cpu-mark':
      cpuMark = { cpu: processCpuSeconds(), at: performance.now() }
      return true
    case 'cpu-read':
      return {
        cpuSeconds: processCpuSeconds() - cpuMark.cpu,
        seconds: (performance.now() - cpuMark.at) / 1000,
      }
    case 'transfer':
      if (request.kind === 'tcp') return await timed(() => receiveTcp(request.host, request.tcpPort))
      if (request.kind === 'bare')
        return await timed(() => receiveBare(node, peerIdFromString(request.peerId), request.bareProtocol))
      return await fetchDataset(node, request.cid)
    case 'profile-start':
      // In-process profiler rather than --cpu-prof: the profile holds the transfers only,
      // not start-up and dataset generation.
      profiler ??= new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.start')
      return true
    case 'profile-stop': {
      if (profiler === undefined) throw new Error('profile-stop without profile-start')
      const { profile } = await profiler.post('Profiler.stop')
      await writeFile(request.path, JSON.stringify(profile))
      profiler.disconnect()
      return request.path
    }
    case 'stop':
      for (const server of servers) void server.close()
      await node.stop()
      await rm(join(dataDir, 'datasets'), { recursive: true, force: true })
      // Reply first, then leave: a CPU profile is written on this clean exit.
      setTimeout(() => process.exit(0), 50)
      return true
  }
}

async function main(): Promise<void> {
  const config = parseConfig(
    {
      // Pings are rare so they do not disturb the measurements; offers are free and uncapped.
      latency: { pingIntervalMs: 3_600_000 },
      offer: { uplinkMbps: 0, pricePerGiB: 0 },
      dataDir,
      listen: [`/ip4/${host}/tcp/0`],
    },
    `cross-process ${role}`,
  )
  const node = await Bwnode.create(config)
  await node.start()
  serveParent<Request>((request) => handle(node, request))
  sendReady({
    ready: {
      peerId: node.peerId.toString(),
      multiaddrs: node.libp2p.getMultiaddrs().map((a) => a.toString()),
    },
  })
}

main().catch((err: unknown) => {
  sendReady({ failed: (err as Error).stack ?? String(err) })
  process.exit(1)
})
