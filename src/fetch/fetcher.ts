import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { BwnodeError, errorCode, errorMessage } from '../errors/index.ts'
import { getBit } from '../store/bitfield.ts'
import { parseChunkCid } from '../store/cid.ts'
import type { DatasetInfo } from '../store/content-store.ts'
import { chunkLengthAt, type Manifest } from '../store/manifest.ts'
import {
  DEFAULT_DISCOVERY_TIMEOUT_MS,
  DEFAULT_MAX_PROVIDERS,
  DEFAULT_MAX_WINDOW,
  DEFAULT_MIN_WINDOW,
  RTT_PROBE_INTERVAL_MS,
  RTT_PROBES,
} from './constants.ts'
import { ProviderState } from './provider.ts'
import { MultiSourceScheduler, type WantedChunk } from './scheduler.ts'
import type { FetchEnvironment, FetchProgress, FetchResult, ProviderSession } from './types.ts'

const log = logger('bwnode:fetch')

/** The part of the content store a fetch needs (ContentStore implements it). */
export interface FetchStore {
  get(cid: CID): Promise<DatasetInfo | undefined>
  getManifest(cid: CID): Promise<Manifest | undefined>
  putManifest(bytes: Uint8Array, expectedCid: CID): Promise<DatasetInfo>
  missingChunks(cid: CID): Promise<string[]>
  /** Stores a chunk the session has already verified against its CID (no second hash). */
  putVerifiedChunk(cid: CID, bytes: Uint8Array): Promise<void>
  markComplete(cid: CID): Promise<DatasetInfo>
}

export interface FetchOptions {
  signal?: AbortSignal
  onProgress?: (progress: FetchProgress) => void
  maxProviders?: number
  /** Upper bound of each provider's window (requests in flight); 1 turns pipelining off. */
  maxWindow?: number
  /** Lower bound of each provider's window (requests in flight). */
  minWindow?: number
  discoveryTimeoutMs?: number
  /** Keep bytes on near providers at some cost in time (DEFAULT_LOCALITY_BIAS); 0: fastest. */
  localityBias?: number
  /** Observe each provider's state as it joins (the latency recorder feeds TTFB into it). */
  onProvider?: (provider: ProviderState) => void
}

/** Expected size of every distinct chunk, from the manifest. */
function chunkSizes(manifest: Manifest): Map<string, number> {
  const sizes = new Map<string, number>()
  for (const file of manifest.files) {
    file.chunks.forEach((cid, index) => {
      sizes.set(cid, chunkLengthAt(file.size, manifest.chunkSize, index))
    })
  }
  return sizes
}

function manifestOrder(manifest: Manifest): string[] {
  return manifest.files.flatMap((file) => file.chunks)
}

/**
 * Fetches a dataset: finds providers through the DHT, gets and verifies the
 * manifest, then pulls the missing chunks from several providers at once
 * (MultiSourceScheduler). Chunks are verified by the session and written by
 * the store as they arrive, so an interrupted fetch resumes where it stopped.
 */
export class Fetcher {
  private readonly store: FetchStore
  private readonly env: FetchEnvironment

  constructor(store: FetchStore, env: FetchEnvironment) {
    this.store = store
    this.env = env
  }

  async fetch(datasetCid: CID, options: FetchOptions = {}): Promise<FetchResult> {
    const controller = new AbortController()
    const abortFromCaller = (): void => controller.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', abortFromCaller, { once: true })
    const sessions = new Map<string, { peer: PeerId; session: ProviderSession }>()
    const started = performance.now()
    try {
      return await this.run(datasetCid, options, controller.signal, sessions, started)
    } finally {
      options.signal?.removeEventListener('abort', abortFromCaller)
      controller.abort(new BwnodeError('ERR_FETCH_DONE', 'fetch finished'))
      await Promise.allSettled([...sessions.values()].map(({ session }) => session.close()))
    }
  }

  /**
   * The provider's network round trip for the locality bias: a few pings when it joins, then
   * one every RTT_PROBE_INTERVAL_MS while the fetch runs; the lowest counts, so a ping slowed by
   * a busy moment (ours or the provider's) is outvoted by a later quiet one.
   */
  private async probe(provider: ProviderState, signal: AbortSignal): Promise<void> {
    const probeRtt = this.env.probeRtt
    if (probeRtt === undefined) return
    for (let i = 0; !signal.aborted && provider.active; i++) {
      try {
        if (i >= RTT_PROBES) await sleep(RTT_PROBE_INTERVAL_MS, undefined, { signal })
        provider.onNetworkRtt(await probeRtt(provider.peer, signal))
      } catch (err) {
        if (!signal.aborted) log('rtt probe of %p failed: %s', provider.peer, errorMessage(err))
        return
      }
    }
  }

  private async run(
    datasetCid: CID,
    options: FetchOptions,
    signal: AbortSignal,
    sessions: Map<string, { peer: PeerId; session: ProviderSession }>,
    started: number,
  ): Promise<FetchResult> {
    const discovered = new ProviderFeed(this.env, datasetCid, signal, options.discoveryTimeoutMs)
    const states = new Map<string, ProviderState>()
    const open = async (peer: PeerId): Promise<ProviderSession> => {
      const known = sessions.get(peer.toString())
      if (known !== undefined) return known.session
      const session = await this.env.openSession(peer, signal, (ttfbMs) =>
        states.get(peer.toString())?.onTtfb(ttfbMs),
      )
      sessions.set(peer.toString(), { peer, session })
      return session
    }

    let manifest = await this.store.getManifest(datasetCid)
    const tried: PeerId[] = []
    if (manifest === undefined) {
      for await (const peer of discovered.peers()) {
        tried.push(peer)
        try {
          const session = await open(peer)
          await this.store.putManifest(await session.manifest(datasetCid, { signal }), datasetCid)
          manifest = await this.store.getManifest(datasetCid)
          break
        } catch (err) {
          log('manifest from %p failed: %s', peer, errorMessage(err))
        }
      }
      if (manifest === undefined) {
        signal.throwIfAborted()
        throw new BwnodeError(
          'ERR_NO_PROVIDERS',
          tried.length === 0
            ? `no providers found for ${datasetCid} on the DHT`
            : `none of the ${tried.length} peer(s) asked (DHT providers, then connected peers) ` +
                `sent a valid manifest for ${datasetCid}`,
        )
      }
    }

    const sizes = chunkSizes(manifest)
    const order = manifestOrder(manifest)
    const totalBytes = manifest.files.reduce((sum, f) => sum + f.size, 0)
    const missing = await this.store.missingChunks(datasetCid)
    const distinct = sizes.size
    const resumedChunks = distinct - missing.length
    const wanted: WantedChunk[] = missing.map((key) => ({
      cid: parseChunkCid(key),
      key,
      size: sizes.get(key) ?? 0,
    }))
    const wantedIndex = new Map(wanted.map((chunk, index) => [chunk.key, index]))
    const missingBytes = wanted.reduce((sum, c) => sum + c.size, 0)

    const scheduler = new MultiSourceScheduler({
      chunks: wanted,
      signal,
      ...(options.localityBias === undefined ? {} : { localityBias: options.localityBias }),
      // ProviderSession.get resolves only with verified bytes, so the store need not hash again.
      deliver: (chunk, bytes) => this.store.putVerifiedChunk(chunk.cid, bytes),
      onEvent: (event) => {
        if (event.type === 'drop') log('dropped %s: %s', event.peer, event.reason)
        report()
      },
    })
    let lastReport = 0
    const report = (force = false): void => {
      if (options.onProgress === undefined) return
      const now = performance.now()
      if (!force && now - lastReport < 100) return
      lastReport = now
      const elapsed = (now - started) / 1000
      options.onProgress({
        cid: datasetCid.toString(),
        name: manifest.name,
        totalBytes,
        doneBytes: totalBytes - missingBytes + scheduler.doneBytes,
        totalChunks: distinct,
        doneChunks: resumedChunks + scheduler.doneChunks,
        resumedChunks,
        activeProviders: scheduler.activeProviders.length,
        bytesPerSec: elapsed > 0 ? scheduler.doneBytes / elapsed : 0,
      })
    }
    report(true)

    if (wanted.length > 0) {
      const maxProviders = options.maxProviders ?? DEFAULT_MAX_PROVIDERS
      const joining: Promise<void>[] = []
      let budgetError: Error | undefined
      const join = async (peer: PeerId): Promise<void> => {
        try {
          const session = await open(peer)
          const have = await session.have(datasetCid, { signal })
          const has = new Set<number>()
          order.forEach((key, manifestIndex) => {
            const index = wantedIndex.get(key)
            if (index !== undefined && getBit(have.bitfield, manifestIndex)) has.add(index)
          })
          if (has.size === 0) return
          let neededBytes = 0
          for (const index of has) neededBytes += wanted[index]?.size ?? 0
          this.env.afford?.(neededBytes, have.pricePerGiB)
          const provider = new ProviderState(
            peer,
            session,
            has,
            await this.env.hint(peer),
            options.maxWindow ?? DEFAULT_MAX_WINDOW,
            options.minWindow ?? DEFAULT_MIN_WINDOW,
          )
          states.set(peer.toString(), provider)
          options.onProvider?.(provider)
          scheduler.addProvider(provider)
          // Probed alongside the first requests, not before them: the fetch does not wait.
          void this.probe(provider, signal)
        } catch (err) {
          if (errorCode(err) === 'ERR_INSUFFICIENT_CREDITS') budgetError ??= err as Error
          log('provider %p unusable: %s', peer, errorMessage(err))
        }
      }
      const discovery = (async () => {
        // The feed replays peers already tried for the manifest; their sessions are reused.
        let count = 0
        for await (const peer of discovered.peers()) {
          if (count++ >= maxProviders) break
          joining.push(join(peer))
        }
        await Promise.allSettled(joining)
        scheduler.discoveryFinished()
      })()
      discovery.catch(() => scheduler.discoveryFinished())
      try {
        await scheduler.run()
      } catch (err) {
        // Providers existed but this node could not pay any of them: say so, not "no providers".
        if (budgetError !== undefined && errorCode(err) === 'ERR_NO_PROVIDERS') throw budgetError
        throw err
      }
    }

    const info = await this.store.markComplete(datasetCid)
    report(true)
    const seconds = (performance.now() - started) / 1000
    const shares = scheduler.localityShares()
    const providers = scheduler.allProviders.map((p) => p.report(shares.get(p)))
    return {
      cid: datasetCid.toString(),
      name: info.name,
      bytes: totalBytes,
      fetchedBytes: scheduler.doneBytes,
      seconds: Number(seconds.toFixed(3)),
      resumedChunks,
      providers,
      localityBias: scheduler.localityBias,
      localitySuspended: Number(scheduler.localitySuspended.toFixed(3)),
      ranking:
        'each request goes to the provider with the earliest estimated completion time ' +
        '(RTT + queued bytes / measured or offered rate; ties to the lower RTT), ' +
        'and only to one within 1.5x of the best holder of that chunk' +
        (scheduler.localityBias > 0
          ? `; locality bias ${scheduler.localityBias}: a provider takes at most its measured rate / ` +
            '(1 + bias x its RTT above the nearest, relative to it) as a share of the bytes while a nearer one is busy, ' +
            "RTTs by ping; suspended while this node's event loop is saturated (pings then measure its CPU)"
          : '; locality bias 0: every provider is kept busy'),
    }
  }
}

/**
 * DHT provider discovery shared by the manifest step and the scheduler: one
 * walk, replayed to each reader, so peers found early are not looked up twice.
 */
class ProviderFeed {
  private readonly found: PeerId[] = []
  private done = false
  private waiters: (() => void)[] = []

  constructor(
    env: FetchEnvironment,
    cid: CID,
    signal: AbortSignal,
    timeoutMs = DEFAULT_DISCOVERY_TIMEOUT_MS,
  ) {
    const walkSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
    void (async () => {
      const seen = new Set<string>([env.self.toString()])
      try {
        for await (const peer of env.findProviders(cid, walkSignal)) {
          if (seen.has(peer.toString())) continue
          seen.add(peer.toString())
          this.found.push(peer)
          this.wake()
        }
      } catch (err) {
        log('provider discovery ended: %s', errorMessage(err))
      } finally {
        this.done = true
        this.wake()
      }
    })()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  async *peers(): AsyncGenerator<PeerId> {
    let index = 0
    while (true) {
      if (index < this.found.length) {
        yield this.found[index++]!
        continue
      }
      if (this.done) return
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }
}
