/**
 * In-process nodes, and swarms of them: the one place the experiment, the bench and the tests
 * start real Bwnodes inside this process (each with its own data dir, TCP on 127.0.0.1 at a random
 * port). Each side brings its own preset on top (the experiment's serving limits, timers and
 * emulated links in `experiment/nodes.ts`, the bench's in `scripts/bench/cluster.ts`, the tests'
 * in `tests/helpers/swarm.ts`). `bwnode lab`'s daemons are processes instead (`cluster.ts`).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { parseConfig } from '../config/load.ts'
import type { ConfigInput } from '../config/schema.ts'
import type { DatasetInfo } from '../contract/api.ts'
import { Bwnode } from '../node/bwnode.ts'
import { waitFor } from '../util/poll.ts'
import { median } from '../util/stats.ts'

/** A node's config without what this module fills in (dataDir, listen, bootstrap). */
export type NodeConfig = Omit<ConfigInput, 'dataDir' | 'listen' | 'bootstrap'>

/** `extra` over `base`, one level deep: `{offer: {pricePerGiB}}` keeps base's other offer fields. */
export function mergeConfig(base: NodeConfig, extra: NodeConfig): NodeConfig {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(extra)) {
    const prior = out[key]
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof prior === 'object'
        ? { ...(prior as object), ...value }
        : value
  }
  return out as NodeConfig
}

export interface InProcessNodeInit {
  dataDir: string
  config?: NodeConfig
  /** Multiaddrs to bootstrap from; left out, the config's default. */
  bootstrap?: string[]
  /** libp2p options on top of the config's (a link emulator, its ping policy). */
  libp2p?: Parameters<typeof Bwnode.create>[1]
  /** The chunk server's timers, set before the node starts. */
  chunkServer?: Bwnode['chunkServerInit']
  /** What a config error is reported as coming from. */
  source?: string
}

/** Creates and starts one node in this process, listening on 127.0.0.1 at a random port. */
export async function startNode(init: InProcessNodeInit): Promise<Bwnode> {
  const config = parseConfig(
    {
      ...init.config,
      dataDir: init.dataDir,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      ...(init.bootstrap === undefined ? {} : { bootstrap: init.bootstrap }),
    },
    init.source ?? 'in-process node',
  )
  const node = await Bwnode.create(config, init.libp2p)
  if (init.chunkServer !== undefined) node.chunkServerInit = init.chunkServer
  await node.start()
  return node
}

/** The node's loopback TCP address with its peer id: what another node bootstraps from. */
export function dialAddr(node: Bwnode): string {
  const addr = node.libp2p.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  if (addr === undefined) throw new Error(`${node.peerId} has no loopback TCP address`)
  const text = addr.toString()
  return text.includes('/p2p/') ? text : `${text}/p2p/${node.peerId.toString()}`
}

/** Dials `to` directly (no DHT walk). */
export async function connect(from: Bwnode, to: Bwnode): Promise<void> {
  const addr = to.libp2p.getMultiaddrs()[0]
  if (addr === undefined) throw new Error(`node ${to.peerId} has no listen address`)
  await from.libp2p.dial(multiaddr(addr.toString()))
}

/** Dials `to` directly and returns the median of a few pings, ms. */
export async function connectAndPing(from: Bwnode, to: Bwnode, pings = 3): Promise<number> {
  await connect(from, to)
  return medianPing(from, to.peerId, pings)
}

export async function medianPing(from: Bwnode, peer: PeerId, count: number): Promise<number> {
  const rtts: number[] = []
  for (let i = 0; i < count; i++) rtts.push(await from.libp2p.services.ping.ping(peer))
  return rtts.length === 0 ? 0 : median(rtts)
}

/**
 * Walks the DHT towards the node's own key. A fresh node's first query waits for kad-dht's first
 * self-query, and the walk fills the routing table as a node that has run a while has it; done
 * before a measurement, so the measured fetches do not start seconds apart.
 */
export async function warmRoutingTable(node: Bwnode, signal: AbortSignal): Promise<void> {
  for await (const _peer of node.libp2p.peerRouting.getClosestPeers(node.peerId.toMultihash().bytes, {
    signal,
  })) {
    // the walk itself is what warms the routing table
  }
}

export async function stopAll(nodes: Iterable<Bwnode>): Promise<void> {
  await Promise.allSettled([...nodes].map((n) => n.stop()))
}

/** Stops a node unless it already stopped (a test may stop a provider mid-fetch). */
export async function stopQuietly(node: Bwnode): Promise<void> {
  if (node.libp2p.status === 'stopped') return
  await node.stop().catch(() => {})
}

export interface Swarm {
  nodes: Bwnode[]
  /** The node every other one bootstrapped from. */
  bootstrap: Bwnode
  /** Adds one more node bootstrapped from the first (`config` over the swarm's defaults). */
  add(config?: NodeConfig, dataDir?: string): Promise<Bwnode>
  /** Stops every node still running and deletes their temp dirs. */
  stop(): Promise<void>
}

export interface SwarmInit {
  /** Every node's config; `config(i)` goes over it for node i. */
  defaults?: NodeConfig
  config?: (index: number) => NodeConfig
  source?: string
}

/**
 * Starts `count` nodes, each with its own temp data dir, all bootstrapped from the first one.
 * Resolves once every node's DHT routing table holds at least one peer.
 */
export async function startSwarm(count: number, init: SwarmInit = {}): Promise<Swarm> {
  const dirs: string[] = []
  const nodes: Bwnode[] = []
  const stopped = new Set<Bwnode>()
  const newDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-swarm-'))
    dirs.push(dir)
    return dir
  }
  const configOf = (extra: NodeConfig): NodeConfig => mergeConfig(init.defaults ?? {}, extra)
  const source = init.source ?? 'swarm node'
  const first = await startNode({
    dataDir: await newDir(),
    config: configOf(init.config?.(0) ?? {}),
    bootstrap: [],
    source,
  })
  nodes.push(first)
  const bootstrap = [dialAddr(first)]

  const spawn = async (extra: NodeConfig, dataDir?: string): Promise<Bwnode> => {
    const node = await startNode({
      dataDir: dataDir ?? (await newDir()),
      config: configOf(extra),
      bootstrap,
      source,
    })
    await waitForRouting(node)
    return node
  }
  nodes.push(
    ...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => spawn(init.config?.(i + 1) ?? {})))),
  )
  await waitForRouting(first)

  return {
    nodes,
    bootstrap: first,
    add: async (extra = {}, dataDir) => {
      const node = await spawn(extra, dataDir)
      nodes.push(node)
      return node
    },
    stop: async () => {
      await Promise.allSettled(
        nodes.filter((n) => !stopped.has(n)).map((n) => stopQuietly(n).then(() => stopped.add(n))),
      )
      await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
    },
  }
}

async function waitForRouting(node: Bwnode): Promise<void> {
  await waitFor(async () => (node.queries.status().dhtRoutingTableSize > 0 ? true : undefined), {
    what: `${node.peerId} DHT routing table`,
    intervalMs: 50,
  })
}

/** `files` random files of `bytesEach` in `dir` (incompressible, like shards); returns `dir`. */
export async function randomFiles(dir: string, files: number, bytesEach: number): Promise<string> {
  await mkdir(dir, { recursive: true })
  for (let i = 0; i < files; i++) {
    await writeFile(join(dir, `part-${String(i).padStart(3, '0')}.bin`), randomBytes(bytesEach))
  }
  return dir
}

/** Adds the same directory on each node, and waits until every one announced it on the DHT. */
export async function addOnAll(
  nodes: Bwnode[],
  path: string,
  options: { chunkSize?: number } = {},
): Promise<DatasetInfo> {
  const infos: DatasetInfo[] = []
  for (const node of nodes) infos.push(await node.datasets.add(path, options))
  const first = infos[0]
  if (first === undefined) throw new Error('no nodes to add on')
  if (infos.some((info) => info.cid !== first.cid)) throw new Error('same input gave different CIDs')
  await waitFor(
    async () => {
      for (const node of nodes) {
        const listed = await node.datasets.list()
        if (!listed.some((d) => d.cid === first.cid && d.provided)) return undefined
      }
      return true
    },
    { what: `providers announcing ${first.cid}`, intervalMs: 50 },
  )
  return first
}
