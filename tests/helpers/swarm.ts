import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TransferInfo } from '../../src/contract/api.ts'
import * as lab from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { waitFor } from './daemon.ts'

/**
 * The tests' preset of src/lab/swarm.ts (the one way nodes start in-process): offers uncapped,
 * pings every minute, everything else as each test asks.
 */
export {
  addOnAll,
  dialAddr,
  type NodeConfig as NodeOverrides,
  type Swarm,
  stopQuietly,
  warmRoutingTable,
} from '../../src/lab/swarm.ts'

const SWARM_DEFAULTS: lab.NodeConfig = {
  offer: { uplinkMbps: 0 },
  latency: { pingIntervalMs: 60_000 },
}
const SOURCE = 'swarm test node'

/** Creates and starts one in-process node on 127.0.0.1 with a random port. */
export function startNode(
  dataDir: string,
  overrides: lab.NodeConfig = {},
  bootstrap: string[] = [],
): Promise<Bwnode> {
  return lab.startNode({
    dataDir,
    config: lab.mergeConfig(SWARM_DEFAULTS, overrides),
    bootstrap,
    source: SOURCE,
  })
}

/**
 * Starts `count` real Bwnode nodes in this process, all bootstrapped from the first one;
 * `overrides(i)` gives node i its config (offer caps, ledger thresholds, link positions).
 */
export function startSwarm(
  count: number,
  overrides: (index: number) => lab.NodeConfig = () => ({}),
): Promise<lab.Swarm> {
  return lab.startSwarm(count, { defaults: SWARM_DEFAULTS, config: overrides, source: SOURCE })
}

/** Writes `files` random files of `bytesEach` under a new directory and returns its path. */
export function randomDataset(root: string, name: string, files: number, bytesEach: number): Promise<string> {
  return lab.randomFiles(join(root, name), files, bytesEach)
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
