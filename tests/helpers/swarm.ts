import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/load.ts'
import type { ConfigInput } from '../../src/config/schema.ts'
import type { TransferInfo } from '../../src/contract/api.ts'
import { Bwnode } from '../../src/node/bwnode.ts'
import { tempDir, waitFor } from './daemon.ts'

/** Per-node config on top of the swarm defaults (dataDir, listen and bootstrap are filled in). */
export type NodeOverrides = Omit<ConfigInput, 'dataDir' | 'listen' | 'bootstrap'>

export interface Swarm {
  nodes: Bwnode[]
  /** The node every other one bootstrapped from. */
  bootstrap: Bwnode
  /** Adds one more node bootstrapped from the first. */
  add(overrides?: NodeOverrides, dataDir?: string): Promise<Bwnode>
  /** Stops every node still running and deletes their temp dirs. */
  stop(): Promise<void>
}

/** Config defaults for test swarms: fast pings, no offer cap unless asked. */
const SWARM_DEFAULTS: NodeOverrides = {
  offer: { uplinkMbps: 0 },
  latency: { pingIntervalMs: 60_000 },
}

function merge(base: NodeOverrides, extra: NodeOverrides): NodeOverrides {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(extra)) {
    const prior = out[key]
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof prior === 'object'
        ? { ...(prior as object), ...value }
        : value
  }
  return out as NodeOverrides
}

/** Creates and starts one in-process node on 127.0.0.1 with a random port. */
export async function startNode(
  dataDir: string,
  overrides: NodeOverrides = {},
  bootstrap: string[] = [],
): Promise<Bwnode> {
  const config = parseConfig(
    { ...merge(SWARM_DEFAULTS, overrides), dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap },
    'swarm test node',
  )
  const node = await Bwnode.create(config)
  await node.start()
  return node
}

export function dialAddr(node: Bwnode): string {
  const addr = node.libp2p.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  if (addr === undefined) throw new Error(`${node.peerId} has no loopback TCP address`)
  const text = addr.toString()
  return text.includes('/p2p/') ? text : `${text}/p2p/${node.peerId.toString()}`
}

/**
 * Starts `count` real Bwnode nodes in this process, each with its own temp data
 * dir and TCP on 127.0.0.1, all bootstrapped from the first one. `overrides(i)`
 * gives node i its config (offer caps, ledger thresholds, link positions).
 * Resolves once every node is connected to the bootstrap node and its DHT
 * routing table holds at least one peer.
 */
export async function startSwarm(
  count: number,
  overrides: (index: number) => NodeOverrides = () => ({}),
): Promise<Swarm> {
  const dirs: string[] = []
  const nodes: Bwnode[] = []
  const stopped = new Set<Bwnode>()
  const first = await startNode(await newDir(dirs), overrides(0))
  nodes.push(first)
  const bootstrapAddr = dialAddr(first)

  const spawn = async (extra: NodeOverrides, dataDir?: string): Promise<Bwnode> => {
    const node = await startNode(dataDir ?? (await newDir(dirs)), extra, [bootstrapAddr])
    await waitForRouting(node)
    return node
  }
  const add = async (extra: NodeOverrides = {}, dataDir?: string): Promise<Bwnode> => {
    const node = await spawn(extra, dataDir)
    nodes.push(node)
    return node
  }
  nodes.push(...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => spawn(overrides(i + 1))))))
  await waitForRouting(first)

  return {
    nodes,
    bootstrap: first,
    add,
    stop: async () => {
      await Promise.allSettled(
        nodes.filter((n) => !stopped.has(n)).map((n) => stopQuietly(n).then(() => stopped.add(n))),
      )
      await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
    },
  }
}

async function newDir(dirs: string[]): Promise<string> {
  const dir = await tempDir('bwnode-swarm-')
  dirs.push(dir)
  return dir
}

/** Stops a node unless it already stopped (tests stop providers mid-fetch). */
export async function stopQuietly(node: Bwnode): Promise<void> {
  if (node.libp2p.status === 'stopped') return
  await node.stop().catch(() => {})
}

async function waitForRouting(node: Bwnode): Promise<void> {
  await waitFor(async () => (node.status().dhtRoutingTableSize > 0 ? true : undefined), {
    what: `${node.peerId} DHT routing table`,
    intervalMs: 50,
  })
}

/** Writes `files` random files of `bytesEach` under a new directory and returns its path. */
export async function randomDataset(root: string, name: string, files: number, bytesEach: number) {
  const dir = join(root, name)
  await mkdir(dir, { recursive: true })
  for (let i = 0; i < files; i++) {
    await writeFile(join(dir, `part-${String(i).padStart(3, '0')}.bin`), randomBytes(bytesEach))
  }
  return dir
}

/** Adds the same directory on each node, and waits until every one announced it on the DHT. */
export async function addOnAll(nodes: Bwnode[], path: string, options: { chunkSize?: number } = {}) {
  const infos = []
  for (const node of nodes) infos.push(await node.datasets.add(path, options))
  const cid = infos[0]!.cid
  if (infos.some((info) => info.cid !== cid)) throw new Error('same input gave different CIDs')
  await waitFor(
    async () => {
      for (const node of nodes) {
        const listed = await node.datasets.list()
        if (!listed.some((d) => d.cid === cid && d.provided)) return undefined
      }
      return true
    },
    { what: `providers announcing ${cid}`, intervalMs: 50 },
  )
  return infos[0]!
}

/** Waits for a transfer started with datasets.startFetch to leave 'running'. */
export async function settleTransfer(node: Bwnode, id: string, timeoutMs = 60_000): Promise<TransferInfo> {
  return waitFor(
    async () => {
      const info = node.datasets.transfer(id)
      return info.state === 'running' ? undefined : info
    },
    { what: `transfer ${id}`, timeoutMs, intervalMs: 25 },
  )
}

/** Every regular file under `dir`, relative path -> bytes. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await readdir(join(dir, sub), { withFileTypes: true })) {
      const rel = sub === '' ? entry.name : `${sub}/${entry.name}`
      if (entry.isDirectory()) await walk(rel)
      else out.set(rel, await readFile(join(dir, rel)))
    }
  }
  await walk('')
  return out
}

export { exists } from '../../src/util/fs.ts'
