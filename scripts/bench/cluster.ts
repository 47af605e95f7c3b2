import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { Fetcher, FetchOptions } from '../../src/fetch/fetcher.ts'
import type { FetchResult } from '../../src/fetch/types.ts'
import {
  type InProcessNodeInit,
  mergeConfig,
  type NodeConfig,
  randomFiles,
  startNode,
} from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'

let nextNode = 0

/**
 * The bench's preset of src/lab/swarm.ts: a real Bwnode in this process with its own data dir
 * under `workDir`. Pings are rare so they do not disturb the measurements; other settings are the
 * caller's. `extra`: libp2p options on top of the config's (e.g. a link emulator with a dilation
 * factor).
 */
export function startBwnode(
  workDir: string,
  input: NodeConfig = {},
  extra: InProcessNodeInit['libp2p'] = {},
): Promise<Bwnode> {
  return startNode({
    dataDir: join(workDir, `node-${nextNode++}`),
    config: mergeConfig({ latency: { pingIntervalMs: 3_600_000 } }, input),
    libp2p: extra,
    source: 'bench',
  })
}

/** A directory of `files` random files totalling about `totalBytes` (incompressible, like shards). */
export function makeDataset(dir: string, totalBytes: number, files = 4): Promise<string> {
  return randomFiles(dir, files, Math.max(1, Math.floor(totalBytes / files)))
}

/** Adds a dataset on each provider and waits until each has announced it on the DHT. */
export async function provideDataset(providers: Bwnode[], path: string, chunkSize?: number): Promise<CID> {
  let cid: CID | undefined
  for (const provider of providers) {
    const info = await provider.datasets.add(path, chunkSize === undefined ? {} : { chunkSize })
    cid = parseDatasetCid(info.cid)
  }
  if (cid === undefined) throw new Error('no providers')
  const announced = cid
  await Promise.all(
    providers.map(async (provider) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        if (await provider.datasets.provide(announced)) return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error('provide failed')
    }),
  )
  return announced
}

/**
 * Waits until `client` finds at least `count` providers of cid on the DHT, so a
 * timed fetch measures the transfer, not a routing table still filling up.
 */
export async function waitForProviders(
  client: Bwnode,
  cid: CID,
  count: number,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const found = new Set<string>()
    try {
      for await (const provider of client.libp2p.contentRouting.findProviders(cid, {
        signal: AbortSignal.timeout(2_000),
      })) {
        found.add(provider.id.toString())
        if (found.size >= count) return
      }
    } catch {
      // timed out this round; try again
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`fewer than ${count} providers of ${cid} found within ${timeoutMs} ms`)
}

/**
 * The node's own Fetcher (the one `POST /api/fetch` uses, with the node's
 * sessions, latency hooks and payments). Reached directly so the bench can pass
 * FetchOptions such as maxWindow and await the result without polling.
 */
export function fetcherOf(node: Bwnode): Fetcher {
  return (node.datasets as unknown as { fetcher: Fetcher }).fetcher
}

export interface TimedFetch {
  result: FetchResult
  /** Wall time of the whole fetch (discovery, manifest, chunks), seconds. */
  seconds: number
  /**
   * Bytes/s of the pipelined steady state, without the lookup and manifest round trips every
   * fetch starts with: see StoreStamps.
   */
  steadyBytesPerSec: number
}

/**
 * Times the chunks a node's store takes. The steady rate runs from the first chunk's arrival
 * (the fetcher hands a verified chunk to the store as it arrives) to the last one's stored, and
 * counts the bytes after the first: the stores run beside the requests, so timing from the first
 * *stored* chunk would leave out the head's store lag and read faster than the link.
 */
export class StoreStamps {
  private readonly store: Bwnode['store']
  private readonly original: Bwnode['store']['putVerifiedChunk']
  private firstArrival: number | undefined
  private firstBytes = 0
  private lastStored: number | undefined
  private bytes = 0

  constructor(store: Bwnode['store']) {
    this.store = store
    this.original = store.putVerifiedChunk
    store.putVerifiedChunk = async (chunk, bytes) => {
      if (this.firstArrival === undefined) {
        this.firstArrival = performance.now()
        this.firstBytes = bytes.byteLength
      }
      await this.original.call(store, chunk, bytes)
      this.lastStored = performance.now()
      this.bytes += bytes.byteLength
    }
  }

  steadyBytesPerSec(): number {
    const { firstArrival, lastStored } = this
    if (firstArrival === undefined || lastStored === undefined || lastStored <= firstArrival)
      return Number.NaN
    return ((this.bytes - this.firstBytes) * 1000) / (lastStored - firstArrival)
  }

  restore(): void {
    this.store.putVerifiedChunk = this.original
  }
}

/**
 * Fetches a dataset into `client` and removes it again, so the next round
 * starts from an empty store. Every chunk's arrival in the store is timed.
 */
export async function timedFetch(client: Bwnode, cid: CID, options: FetchOptions = {}): Promise<TimedFetch> {
  const stamps = new StoreStamps(client.store)
  const started = performance.now()
  try {
    const result = await fetcherOf(client).fetch(cid, options)
    const seconds = (performance.now() - started) / 1000
    return { result, seconds, steadyBytesPerSec: stamps.steadyBytesPerSec() }
  } finally {
    stamps.restore()
    await client.datasets.remove(cid.toString()).catch(() => {})
  }
}
