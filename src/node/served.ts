import type { Database } from '../db/database.ts'
import { DEFAULT_SERVED_FLUSH_INTERVAL_MS, DEFAULT_SERVED_REINDEX_INTERVAL_MS } from './constants.ts'

/** Served chunks waiting for an index rebuild; more are dropped (a flood of unknown chunks). */
const MAX_PENDING_CHUNKS = 100_000

export interface ServedTotals {
  /** Chunk bytes handed to peers for this dataset. */
  bytes: number
  chunks: number
  /** Last time a chunk of it was served, ms since the epoch. */
  lastServedAt: number
}

export interface ServedByDatasetInit {
  db: Database
  /** The datasets held here and the chunk CIDs each manifest lists. */
  manifests: () => Promise<Array<{ cid: string; chunks: string[] }>>
  /** Called once a served chunk has been attributed to its dataset (metrics). */
  onAttributed?: (datasetCid: string, bytes: number) => void
  flushIntervalMs?: number
  reindexIntervalMs?: number
  clock?: () => number
}

/**
 * How many bytes of each dataset this node has served. The chunk protocol
 * only sees chunk CIDs, so served chunks are attributed through an in-memory
 * chunk -> dataset index built from the manifests, rebuilt (rate-limited) when
 * a chunk is not in it, e.g. after a dataset was added. A chunk shared by
 * several datasets counts for the first one indexed. Totals survive restarts
 * (write-behind to the `served` sublevel).
 */
export class ServedByDataset {
  private readonly store
  private readonly manifests: ServedByDatasetInit['manifests']
  private readonly onAttributed: ServedByDatasetInit['onAttributed']
  private readonly reindexIntervalMs: number
  private readonly clock: () => number
  private readonly totalsByDataset = new Map<string, ServedTotals>()
  private readonly dirty = new Set<string>()
  private index = new Map<string, string>()
  private pending: Array<{ chunk: string; bytes: number }> = []
  private reindexing: Promise<void> | undefined
  private lastReindexAt = Number.NEGATIVE_INFINITY
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly flushIntervalMs: number

  constructor(init: ServedByDatasetInit) {
    this.store = init.db.sublevel<string, ServedTotals>('served', { valueEncoding: 'json' })
    this.manifests = init.manifests
    this.onAttributed = init.onAttributed
    this.flushIntervalMs = init.flushIntervalMs ?? DEFAULT_SERVED_FLUSH_INTERVAL_MS
    this.reindexIntervalMs = init.reindexIntervalMs ?? DEFAULT_SERVED_REINDEX_INTERVAL_MS
    this.clock = init.clock ?? Date.now
  }

  /** Loads stored totals and starts the write-behind timer. */
  async open(): Promise<void> {
    for await (const [cid, totals] of this.store.iterator()) this.totalsByDataset.set(cid, totals)
    this.timer = setInterval(() => void this.flush().catch(() => {}), this.flushIntervalMs)
    this.timer.unref()
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.reindexing
    await this.flush()
  }

  /** One chunk served; cheap and synchronous on the serving path. */
  record(chunkCid: string, bytes: number): void {
    const dataset = this.index.get(chunkCid)
    if (dataset !== undefined) {
      this.add(dataset, bytes)
      return
    }
    if (this.pending.length < MAX_PENDING_CHUNKS) this.pending.push({ chunk: chunkCid, bytes })
    this.reindexing ??= this.reindex().finally(() => {
      this.reindexing = undefined
    })
  }

  /** Totals per dataset CID. */
  totals(): Map<string, ServedTotals> {
    return new Map([...this.totalsByDataset].map(([cid, t]) => [cid, { ...t }]))
  }

  bytesFor(datasetCid: string): number {
    return this.totalsByDataset.get(datasetCid)?.bytes ?? 0
  }

  /** Waits for chunks still being attributed (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.reindexing !== undefined) await this.reindexing
  }

  async flush(): Promise<void> {
    if (this.dirty.size === 0) return
    const batch = this.store.batch()
    for (const cid of this.dirty) {
      const totals = this.totalsByDataset.get(cid)
      if (totals !== undefined) batch.put(cid, totals)
    }
    this.dirty.clear()
    await batch.write()
  }

  private add(dataset: string, bytes: number): void {
    const totals = this.totalsByDataset.get(dataset) ?? { bytes: 0, chunks: 0, lastServedAt: 0 }
    totals.bytes += bytes
    totals.chunks += 1
    totals.lastServedAt = this.clock()
    this.totalsByDataset.set(dataset, totals)
    this.dirty.add(dataset)
    this.onAttributed?.(dataset, bytes)
  }

  private async reindex(): Promise<void> {
    // Chunks recorded while a rebuild runs are handled by the next round,
    // which rebuilds again only for chunks the new index does not know.
    while (this.pending.length > 0) {
      const unknown = this.attribute(this.take())
      if (unknown.length === 0) continue
      // Rate-limited: a peer asking for chunks we hold under no manifest cannot
      // make us rebuild the index for every request.
      const wait = this.lastReindexAt + this.reindexIntervalMs - this.clock()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref())
      this.lastReindexAt = this.clock()
      try {
        const index = new Map<string, string>()
        for (const { cid, chunks } of await this.manifests()) {
          for (const chunk of chunks) if (!index.has(chunk)) index.set(chunk, cid)
        }
        this.index = index
      } catch {
        // Keep the old index; chunks it cannot place stay unattributed.
      }
      // Chunks no manifest lists (removed datasets, strangers' requests) are dropped.
      this.attribute(unknown)
    }
  }

  private take(): Array<{ chunk: string; bytes: number }> {
    const pending = this.pending
    this.pending = []
    return pending
  }

  /** Adds what the index places; returns the rest. */
  private attribute(
    served: Array<{ chunk: string; bytes: number }>,
  ): Array<{ chunk: string; bytes: number }> {
    const unknown: Array<{ chunk: string; bytes: number }> = []
    for (const entry of served) {
      const dataset = this.index.get(entry.chunk)
      if (dataset === undefined) unknown.push(entry)
      else this.add(dataset, entry.bytes)
    }
    return unknown
  }
}
