import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { AddJobInfo, DatasetInfo, TransferInfo } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, errorMessage, explainDiskFull } from '../errors/index.ts'
import { Fetcher, type FetchOptions } from '../fetch/fetcher.ts'
import type { ProviderFailures } from '../fetch/provider.ts'
import type { FetchEnvironment } from '../fetch/types.ts'
import { CHUNK_PROTOCOL } from '../protocols/chunk/constants.ts'
import { parseDatasetCid } from '../store/cid.ts'
import type { AddOptions, ContentStore } from '../store/content-store.ts'
import { JobRegistry } from './jobs.ts'
import type { BwnodeLibp2p } from './libp2p.ts'

const log = logger('bwnode:datasets')

/** Connected peers a fetch asks directly (HAVE) besides the DHT's providers, at most. */
export const MAX_CONNECTED_PEERS_ASKED = 16

/** Finished transfers the registry remembers for the API and dashboard (the newest). */
export const MAX_FINISHED_TRANSFERS = 100

/** Finished background adds remembered for GET /api/adds (the newest). */
export const MAX_FINISHED_ADDS = 100

export interface StartFetchOptions {
  out?: string
  /** Provide the dataset after fetching (default true). */
  seed?: boolean
  maxProviders?: number
  /** See DEFAULT_LOCALITY_BIAS; 0 keeps every provider busy (fastest). */
  localityBias?: number
  /** Fetch (and export) only these files or folders; see selectFiles. */
  paths?: string[]
}

/**
 * Datasets on the network: advertising what the store holds (provide on add,
 * re-provide on a schedule and whenever the node had nothing to announce to),
 * fetching from providers, and the registry of transfers the API reports.
 */
export class DatasetService {
  readonly store: ContentStore
  private readonly libp2p: BwnodeLibp2p
  private readonly fetcher: Fetcher
  private readonly reprovideIntervalMs: number
  private readonly transfers = new JobRegistry<TransferInfo>('transfer', MAX_FINISHED_TRANSFERS)
  private readonly adds = new JobRegistry<AddJobInfo>('add', MAX_FINISHED_ADDS)
  private readonly provided = new Set<string>()
  private readonly onTransferEnd: ((info: TransferInfo) => void) | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private stopped = false

  constructor(init: {
    store: ContentStore
    libp2p: BwnodeLibp2p
    fetchEnvironment: FetchEnvironment
    reprovideIntervalMs: number
    /** Called once per transfer as it ends (done, failed or cancelled): metrics. */
    onTransferEnd?: (info: TransferInfo) => void
  }) {
    this.store = init.store
    this.libp2p = init.libp2p
    this.fetcher = new Fetcher(init.store, init.fetchEnvironment)
    this.reprovideIntervalMs = init.reprovideIntervalMs
    this.onTransferEnd = init.onTransferEnd
  }

  get providedCount(): number {
    return this.provided.size
  }

  get activeCount(): number {
    return this.transfers.running().length
  }

  start(): void {
    this.timer = setInterval(() => void this.reprovideAll(), this.reprovideIntervalMs)
    this.timer.unref()
    // A node that starts alone cannot announce anything; announce once it has company.
    this.libp2p.addEventListener('peer:connect', this.onPeerConnect)
    void this.reprovideAll()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.libp2p.removeEventListener('peer:connect', this.onPeerConnect)
    this.transfers.abortAll(new BwnodeError(ERR.SHUTDOWN, 'node stopping'))
  }

  private readonly onPeerConnect = (): void => {
    if (this.pendingAnnounce) {
      this.pendingAnnounce = false
      void this.reprovideAll()
    }
  }
  private pendingAnnounce = false

  async add(path: string, options: AddOptions): Promise<DatasetInfo> {
    const info = await this.store.addPath(path, options)
    void this.provide(parseDatasetCid(info.cid))
    return info
  }

  /**
   * Starts an add in the background and returns its record at once; `progress` follows the
   * store's reads (GET /api/adds/:id). Adds run one at a time in the store, so a second one
   * waits with `progress: null` until the first is done.
   */
  startAdd(path: string, options: { name?: string; chunkSize?: number } = {}): AddJobInfo {
    const info: AddJobInfo = {
      id: this.adds.nextId(),
      path,
      state: 'running',
      startedAt: Date.now(),
      progress: null,
      result: null,
      error: null,
    }
    this.adds.add(info)
    let readingSince: number | undefined
    const onProgress: AddOptions['onProgress'] = (progress) => {
      readingSince ??= performance.now()
      const seconds = (performance.now() - readingSince) / 1000
      info.progress = { ...progress, bytesPerSec: seconds > 0 ? progress.doneBytes / seconds : 0 }
    }
    this.add(path, { ...options, onProgress })
      .then(
        (dataset) => {
          info.result = dataset
          info.state = 'done'
        },
        (caught: unknown) => {
          const err = explainDiskFull(caught)
          info.state = 'failed'
          info.error = { code: err instanceof BwnodeError ? err.code : ERR.ADD, message: errorMessage(err) }
        },
      )
      .finally(() => this.adds.prune())
    return info
  }

  addJob(id: string): AddJobInfo {
    return this.adds.get(id)
  }

  listAdds(): AddJobInfo[] {
    return this.adds.list()
  }

  async list(): Promise<Array<DatasetInfo & { provided: boolean }>> {
    return (await this.store.list()).map((d) => ({ ...d, provided: this.provided.has(d.cid) }))
  }

  async remove(cidText: string): Promise<{ cid: string; chunksDeleted: number; bytesFreed: number }> {
    const cid = parseDatasetCid(cidText)
    // Deleting chunks under a running fetch would break it (it writes them, then marks the
    // dataset complete): the user cancels the fetch first, knowingly.
    const running = this.runningFetchOf(cid)
    if (running !== undefined) {
      throw new BwnodeError(
        ERR.FETCH_RUNNING,
        `${cid} is being fetched (transfer ${running.id}); cancel it first: bwnode transfers cancel ${running.id}`,
      )
    }
    const result = await this.store.remove(cid)
    this.provided.delete(cid.toString())
    // Stop re-announcing it; existing provider records expire on their own.
    await this.libp2p.services.dht.cancelReprovide(cid).catch(() => {})
    return result
  }

  /** Announces one dataset on the DHT; failures leave it for the next round. */
  async provide(cid: CID): Promise<boolean> {
    if (this.stopped) return false
    if (this.libp2p.getPeers().length === 0) {
      this.pendingAnnounce = true
      return false
    }
    try {
      await this.libp2p.contentRouting.provide(cid, { signal: AbortSignal.timeout(60_000) })
      this.provided.add(cid.toString())
      return true
    } catch (err) {
      log('provide %s failed: %s', cid, errorMessage(err))
      this.pendingAnnounce = true
      return false
    }
  }

  async reprovideAll(): Promise<void> {
    for (const dataset of await this.store.list().catch(() => [])) {
      if (this.stopped) return
      if (dataset.complete) await this.provide(parseDatasetCid(dataset.cid))
    }
  }

  /** Peers that failed this node's fetches (no answer, bad data): later fetches ask them last. */
  get providerFailures(): ProviderFailures {
    return this.fetcher.failures
  }

  /** Starts a fetch in the background and returns its transfer record at once. */
  startFetch(cidText: string, options: StartFetchOptions = {}): TransferInfo {
    const cid = parseDatasetCid(cidText)
    // Refuse before spending time and credits on a fetch whose export is bound to fail.
    if (options.out !== undefined) assertOutFree(options.out)
    const running = this.runningFetchOf(cid)
    if (running !== undefined) {
      throw new BwnodeError(
        ERR.FETCH_RUNNING,
        `a fetch of ${cid} is already running (transfer ${running.id})`,
      )
    }
    const controller = new AbortController()
    const info: TransferInfo = {
      id: this.transfers.nextId(),
      cid: cid.toString(),
      out: options.out ?? null,
      state: 'running',
      startedAt: Date.now(),
      progress: null,
      result: null,
      error: null,
    }
    this.transfers.add(info, controller)
    void this.runFetch(cid, info, controller.signal, options)
    return info
  }

  private async runFetch(
    cid: CID,
    info: TransferInfo,
    signal: AbortSignal,
    options: StartFetchOptions,
  ): Promise<void> {
    try {
      const fetchOptions: FetchOptions = {
        signal,
        onProgress: (progress) => {
          info.progress = progress
        },
        ...(options.maxProviders === undefined ? {} : { maxProviders: options.maxProviders }),
        ...(options.localityBias === undefined ? {} : { localityBias: options.localityBias }),
        ...(options.paths === undefined ? {} : { paths: options.paths }),
      }
      const result = await this.fetcher.fetch(cid, fetchOptions)
      if (options.out !== undefined) await this.store.exportDataset(cid, options.out, options.paths)
      info.result = { ...result, out: options.out ?? null }
      info.state = 'done'
      // Only a whole dataset is advertised: a provider record promises every chunk.
      if (options.seed !== false && result.complete) void this.provide(cid)
    } catch (caught) {
      const err = explainDiskFull(caught)
      info.state = signal.aborted ? 'cancelled' : 'failed'
      const code = err instanceof BwnodeError ? err.code : signal.aborted ? ERR.CANCELLED : ERR.FETCH
      info.error = { code, message: errorMessage(err) }
    } finally {
      this.onTransferEnd?.(info)
      // A node runs for weeks: only the newest finished transfers are kept.
      this.transfers.prune()
    }
  }

  private runningFetchOf(cid: CID): TransferInfo | undefined {
    for (const info of this.transfers.running()) if (info.cid === cid.toString()) return info
    return undefined
  }

  transfer(id: string): TransferInfo {
    return this.transfers.get(id)
  }

  listTransfers(): TransferInfo[] {
    return this.transfers.list()
  }

  cancel(id: string): TransferInfo {
    return this.transfers.abort(id, new BwnodeError(ERR.CANCELLED, 'fetch cancelled'))
  }
}

/** The export target and its '.partial' sibling must not exist (the store refuses to overwrite either). */
function assertOutFree(out: string): void {
  const target = resolve(out)
  for (const path of [target, `${target}.partial`]) {
    if (existsSync(path)) {
      throw new BwnodeError(ERR.OUT_EXISTS, `${path} already exists; remove it or choose another path`)
    }
  }
}

/** The libp2p side of a fetch: the DHT provider walk. */
export function providersFromDht(libp2p: BwnodeLibp2p) {
  return async function* findProviders(cid: CID, signal: AbortSignal): AsyncGenerator<PeerId> {
    for await (const provider of libp2p.contentRouting.findProviders(cid, { signal })) {
      if (provider.multiaddrs.length > 0) {
        await libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
      }
      yield provider.id
    }
  }
}

/**
 * The peers this node is connected to that speak the chunk protocol, at most
 * MAX_CONNECTED_PEERS_ASKED: a provider record can still be spreading (a small or busy network,
 * a peer that just fetched it, a routing table too poor for the walk to finish), and the
 * fetcher's HAVE tells at once whether one holds any of it. The fetcher offers them after the
 * DHT's providers (ProviderFeed).
 */
export function connectedChunkPeers(libp2p: BwnodeLibp2p) {
  return async function connectedPeers(signal: AbortSignal, found: ReadonlySet<string>): Promise<PeerId[]> {
    const peers: PeerId[] = []
    for (const peer of libp2p.getPeers()) {
      if (signal.aborted || peers.length >= MAX_CONNECTED_PEERS_ASKED) break
      if (found.has(peer.toString())) continue
      const known = await libp2p.peerStore.get(peer).catch(() => undefined)
      if (known === undefined || !known.protocols.includes(CHUNK_PROTOCOL)) continue
      peers.push(peer)
    }
    return peers
  }
}
