import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { DatasetInfo } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, errorCode, errorMessage } from '../errors/index.ts'
import { Notifier } from '../protocols/chunk/notifier.ts'
import { getBit } from '../store/bitfield.ts'
import { parseChunkCid } from '../store/cid.ts'
import { chunkLengthAt, type Manifest, selectFiles } from '../store/manifest.ts'
import {
  DEFAULT_CONNECTED_PEERS_AFTER_MS,
  DEFAULT_DISCOVERY_TIMEOUT_MS,
  DEFAULT_MANIFEST_HEDGE_MS,
  DEFAULT_MAX_PROVIDERS,
  DEFAULT_MAX_WINDOW,
  DEFAULT_MIN_WINDOW,
  DEFAULT_REJOIN_FIRST_WAIT_MS,
  DEFAULT_REJOIN_MAX_WAIT_MS,
  DEFAULT_REJOIN_WINDOW_MS,
  MAX_MANIFEST_ATTEMPTS_IN_FLIGHT,
  RTT_PROBE_INTERVAL_MS,
  RTT_PROBES,
} from './constants.ts'
import { ProviderFailures, ProviderState } from './provider.ts'
import { MultiSourceScheduler, type WantedChunk } from './scheduler.ts'
import type { FetchEnvironment, FetchProgress, FetchResult, ProviderLoss, ProviderSession } from './types.ts'

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
  /** Ask the next provider for the manifest when none answered within this many ms. */
  manifestHedgeMs?: number
  /** Offer connected peers this many ms into a DHT walk that has found nobody. */
  connectedPeersAfterMs?: number
  /** Keep bytes on near providers at some cost in time (DEFAULT_LOCALITY_BIAS); 0: fastest. */
  localityBias?: number
  /** Fetch only these files or folders of the dataset (see selectFiles); absent: all of it. */
  paths?: readonly string[]
  /** A chunk request slower than max(this, 4x its expected time) is moved (DEFAULT_MIN_CHUNK_TIMEOUT_MS). */
  minChunkTimeoutMs?: number
  /** The first requests wait at most this long for the other providers found (DEFAULT_JOIN_GRACE_MS). */
  joinGraceMs?: number
  /** How long a lost provider is redialled before its chunks are given up on (DEFAULT_REJOIN_WINDOW_MS). */
  rejoinWindowMs?: number
  /** First redial of a lost provider after this many ms (then doubling). */
  rejoinFirstWaitMs?: number
  /** Observe each provider's state as it joins (the latency recorder feeds TTFB into it). */
  onProvider?: (provider: ProviderState) => void
}

/** A provider that answered ERR_LENDING_CLOSED (past its byte cap, outside its schedule). */
interface LendingRefusal {
  peer: string
  message: string
}

/**
 * A fetch that ran out of providers because those holding the data are not lending now: said
 * with the provider's own reason (which cap, when it opens again) instead of "no providers".
 */
function lendingClosed(refusal: LendingRefusal, asked: number, what: 'manifest' | 'chunks'): BwnodeError {
  const needed = what === 'manifest' ? 'the manifest' : 'the chunks still needed'
  return new BwnodeError(
    ERR.LENDING_CLOSED,
    `no provider of ${needed} is lending now (${asked} asked); ${refusal.peer}: ${refusal.message}`,
  )
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
  /** Providers that failed earlier fetches of this node: asked last, ranked lower. */
  readonly failures: ProviderFailures

  constructor(store: FetchStore, env: FetchEnvironment, failures = new ProviderFailures()) {
    this.store = store
    this.env = env
    this.failures = failures
  }

  async fetch(datasetCid: CID, options: FetchOptions = {}): Promise<FetchResult> {
    const controller = new AbortController()
    const abortFromCaller = (): void => controller.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', abortFromCaller, { once: true })
    const sessions = new Map<string, OpenSession>()
    const received = new Map<string, number>()
    const started = performance.now()
    let result: FetchResult
    try {
      result = await this.run(datasetCid, options, controller.signal, sessions, received, started)
    } finally {
      options.signal?.removeEventListener('abort', abortFromCaller)
      controller.abort(new BwnodeError(ERR.FETCH_DONE, 'fetch finished'))
      await Promise.allSettled(
        [...sessions.values()].map(({ session, joined }) =>
          // A peer that never became a provider and still owes an answer is likely silent: a
          // graceful close would wait a whole response timeout for it. Providers close
          // gracefully, so the vouchers being signed go out.
          !joined && session.pending > 0 && session.abort !== undefined ? session.abort() : session.close(),
        ),
      )
    }
    // Every session is closed now, so each chunk a provider delivered (and was paid for) is
    // counted, the endgame's losing copies too, even one verified after the fetch settled.
    for (const provider of result.providers) {
      provider.duplicateBytes = Math.max(0, (received.get(provider.peerId) ?? 0) - provider.bytes)
    }
    return result
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
    sessions: Map<string, OpenSession>,
    received: Map<string, number>,
    started: number,
  ): Promise<FetchResult> {
    const discovered = new ProviderFeed(
      this.env,
      datasetCid,
      signal,
      options.discoveryTimeoutMs,
      options.connectedPeersAfterMs,
    )
    const states = new Map<string, ProviderState>()
    const opening = new Map<string, Promise<ProviderSession>>()
    const open = (peer: PeerId): Promise<ProviderSession> => {
      const key = peer.toString()
      const known = opening.get(key)
      if (known !== undefined) return known
      const opened = this.env
        .openSession(peer, signal, (ttfbMs) => states.get(key)?.onTtfb(ttfbMs), datasetCid)
        .then((inner) => {
          const session = new CountingSession(inner, (bytes) =>
            received.set(key, (received.get(key) ?? 0) + bytes),
          )
          sessions.set(key, { peer, session, joined: false })
          return session
        })
      opening.set(key, opened)
      // A failed open is retried by the next caller.
      opened.catch(() => opening.delete(key))
      return opened
    }

    let manifest = await this.store.getManifest(datasetCid)
    if (manifest === undefined) {
      const raced = await this.raceManifest(
        datasetCid,
        discovered,
        open,
        signal,
        options.manifestHedgeMs ?? DEFAULT_MANIFEST_HEDGE_MS,
      )
      manifest = raced.manifest
      if (manifest === undefined) {
        signal.throwIfAborted()
        if (raced.lendingRefusal !== undefined)
          throw lendingClosed(raced.lendingRefusal, raced.asked, 'manifest')
        throw new BwnodeError(
          ERR.NO_PROVIDERS,
          raced.asked === 0
            ? `no providers found for ${datasetCid} on the DHT or among connected peers`
            : `none of the ${raced.asked} peer(s) asked (DHT providers, then connected peers) ` +
                `sent a valid manifest for ${datasetCid}`,
        )
      }
    }

    const sizes = chunkSizes(manifest)
    const order = manifestOrder(manifest)
    // A selection fetches only its files' chunks; the dataset stays incomplete here until the
    // rest is fetched too.
    const files = selectFiles(manifest, options.paths)
    const selectedChunks = new Set(files.flatMap((file) => file.chunks))
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0)
    const missingAnywhere = await this.store.missingChunks(datasetCid)
    const missing = missingAnywhere.filter((key) => selectedChunks.has(key))
    const distinct = selectedChunks.size
    const resumedChunks = distinct - missing.length
    const wanted: WantedChunk[] = missing.map((key) => ({
      cid: parseChunkCid(key),
      key,
      size: sizes.get(key) ?? 0,
    }))
    const wantedIndex = new Map(wanted.map((chunk, index) => [chunk.key, index]))
    const missingBytes = wanted.reduce((sum, c) => sum + c.size, 0)

    const losses: ProviderLoss[] = []
    let rejoinLost: (peer: PeerId, reason: string) => void = () => {}
    const scheduler = new MultiSourceScheduler({
      chunks: wanted,
      signal,
      ...(options.localityBias === undefined ? {} : { localityBias: options.localityBias }),
      ...(options.minChunkTimeoutMs === undefined ? {} : { minChunkTimeoutMs: options.minChunkTimeoutMs }),
      ...(options.joinGraceMs === undefined ? {} : { joinGraceMs: options.joinGraceMs }),
      // ProviderSession.get resolves only with verified bytes, so the store need not hash again.
      deliver: (chunk, bytes) => this.store.putVerifiedChunk(chunk.cid, bytes),
      onEvent: (event) => {
        if (event.type === 'drop') log('dropped %s: %s', event.peer, event.reason)
        if (event.type === 'lost') {
          log('lost %s: %s', event.peer, event.reason)
          const peer = states.get(event.peer)?.peer
          if (peer !== undefined) rejoinLost(peer, event.reason)
        }
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
      let lendingRefusal: LendingRefusal | undefined
      let asked = 0
      /** HAVE, then the provider joins the scheduler; throws when it cannot serve this fetch. */
      const admit = async (peer: PeerId): Promise<ProviderState | undefined> => {
        // What is known of the provider (its offer may be a DHT get away) is looked up beside
        // the session and its HAVE, not after them: the first requests wait for both.
        const hint = this.env.hint(peer)
        hint.catch(() => {})
        const session = await open(peer)
        const have = await session.have(datasetCid, { signal })
        const has = new Set<number>()
        order.forEach((key, manifestIndex) => {
          const index = wantedIndex.get(key)
          if (index !== undefined && getBit(have.bitfield, manifestIndex)) has.add(index)
        })
        if (has.size === 0) return undefined
        let neededBytes = 0
        for (const index of has) neededBytes += wanted[index]?.size ?? 0
        this.env.afford?.(neededBytes, have.pricePerGiB)
        const pastFailures = this.failures.score(peer)
        const provider = new ProviderState(
          peer,
          session,
          has,
          { ...(await hint), ...(pastFailures > 0 ? { pastFailures } : {}) },
          options.maxWindow ?? DEFAULT_MAX_WINDOW,
          options.minWindow ?? DEFAULT_MIN_WINDOW,
        )
        states.set(peer.toString(), provider)
        const entry = sessions.get(peer.toString())
        if (entry !== undefined) entry.joined = true
        options.onProvider?.(provider)
        scheduler.addProvider(provider)
        // Probed alongside the first requests, not before them: the fetch does not wait.
        void this.probe(provider, signal)
        return provider
      }
      const join = async (peer: PeerId): Promise<void> => {
        scheduler.joining()
        asked++
        try {
          await admit(peer)
        } catch (err) {
          const code = errorCode(err)
          if (code === ERR.INSUFFICIENT_CREDITS) budgetError ??= err as Error
          else if (code !== ERR.NOT_FOUND && !signal.aborted) this.failures.failed(peer)
          if (code === ERR.LENDING_CLOSED)
            lendingRefusal = { peer: peer.toString(), message: errorMessage(err) }
          log('provider %p unusable: %s', peer, errorMessage(err))
        } finally {
          scheduler.joined()
        }
      }
      // A provider whose session died is redialled with backoff for a while (a home peer that
      // dropped off and came back); its chunks go to the others meanwhile.
      rejoinLost = (peer: PeerId, reason: string): void => {
        const lostAt = performance.now()
        const record: ProviderLoss = {
          peerId: peer.toString(),
          reason,
          lostAtMs: Number((lostAt - started).toFixed(1)),
          rejoinedAfterMs: null,
          attempts: 0,
        }
        losses.push(record)
        scheduler.rejoining()
        void (async () => {
          const deadline = lostAt + (options.rejoinWindowMs ?? DEFAULT_REJOIN_WINDOW_MS)
          let waitMs = options.rejoinFirstWaitMs ?? DEFAULT_REJOIN_FIRST_WAIT_MS
          try {
            while (!signal.aborted && performance.now() + waitMs <= deadline) {
              await sleep(waitMs, undefined, { signal })
              waitMs = Math.min(2 * waitMs, DEFAULT_REJOIN_MAX_WAIT_MS)
              record.attempts++
              // a fresh session: the failed one stays failed
              opening.delete(peer.toString())
              try {
                if ((await admit(peer)) === undefined) return
                record.rejoinedAfterMs = Number((performance.now() - lostAt).toFixed(1))
                log('provider %p rejoined after %d ms', peer, record.rejoinedAfterMs)
                return
              } catch (err) {
                log('provider %p not back yet: %s', peer, errorMessage(err))
              }
            }
          } catch {
            // the fetch ended while we waited
          } finally {
            scheduler.rejoinEnded()
          }
        })()
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
        if (budgetError !== undefined && errorCode(err) === ERR.NO_PROVIDERS) throw budgetError
        // The ones that held it refused to lend (a cap, a schedule): say that, with their reason.
        if (lendingRefusal !== undefined && errorCode(err) === ERR.NO_PROVIDERS) {
          throw lendingClosed(lendingRefusal, asked, 'chunks')
        }
        throw err
      } finally {
        // Remembered for the next fetch: dropped providers are asked last and ranked lower.
        for (const provider of scheduler.allProviders) {
          if (provider.dropped !== null) this.failures.failed(provider.peer)
          else if (provider.chunks > 0) this.failures.succeeded(provider.peer)
        }
      }
    }

    const complete = missing.length === missingAnywhere.length
    const name = complete ? (await this.store.markComplete(datasetCid)).name : manifest.name
    report(true)
    const seconds = (performance.now() - started) / 1000
    const shares = scheduler.localityShares()
    const providers = scheduler.allProviders.map((p) => p.report(shares.get(p)))
    return {
      cid: datasetCid.toString(),
      name,
      bytes: totalBytes,
      complete,
      ...(options.paths === undefined ? {} : { paths: [...options.paths] }),
      fetchedBytes: scheduler.doneBytes,
      seconds: Number(seconds.toFixed(3)),
      resumedChunks,
      providers,
      losses,
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
  /**
   * Asks providers for the manifest, hedged: the first candidate at once, the next one when no
   * verified answer came within `hedgeMs` (or at once when every request so far has failed),
   * up to MAX_MANIFEST_ATTEMPTS_IN_FLIGHT at a time. The first manifest that hashes to the CID
   * wins and the other requests are withdrawn (CANCEL). Candidates that failed this node before
   * are asked after the others, and only one hedge delay later: someone better may turn up.
   * A candidate asked before the winner that had not answered counts a failure.
   */
  private async raceManifest(
    datasetCid: CID,
    feed: ProviderFeed,
    open: (peer: PeerId) => Promise<ProviderSession>,
    signal: AbortSignal,
    hedgeMs: number,
  ): Promise<{ manifest: Manifest | undefined; asked: number; lendingRefusal?: LendingRefusal }> {
    const race = new AbortController()
    const raceSignal = AbortSignal.any([signal, race.signal])
    const tried = new Set<string>()
    const running = new Map<string, { peer: PeerId; startedAt: number }>()
    const changed = new Notifier()
    let manifest: Manifest | undefined
    let winnerStartedAt = Number.POSITIVE_INFINITY
    let verifying: Promise<void> = Promise.resolve()
    let lastStart = performance.now()
    let lendingRefusal: LendingRefusal | undefined

    const attempt = (peer: PeerId): void => {
      const key = peer.toString()
      const startedAt = performance.now()
      tried.add(key)
      running.set(key, { peer, startedAt })
      lastStart = startedAt
      void (async () => {
        try {
          const session = await open(peer)
          const bytes = await session.manifest(datasetCid, { signal: raceSignal })
          // One verification at a time: the first manifest that verifies wins.
          const verified = verifying.then(async () => {
            if (manifest !== undefined) return
            await this.store.putManifest(bytes, datasetCid)
            manifest = await this.store.getManifest(datasetCid)
            winnerStartedAt = startedAt
          })
          verifying = verified.catch(() => {})
          await verified
          this.failures.succeeded(peer)
        } catch (err) {
          // Withdrawn because another won, or the fetch ended: not this peer's fault. "Not held
          // here" is an honest answer (a connected peer asked on the off chance).
          if (manifest === undefined && !signal.aborted && errorCode(err) !== ERR.NOT_FOUND) {
            this.failures.failed(peer)
          }
          if (errorCode(err) === ERR.LENDING_CLOSED) {
            lendingRefusal = { peer: peer.toString(), message: errorMessage(err) }
          }
          log('manifest from %p failed: %s', peer, errorMessage(err))
        } finally {
          running.delete(key)
          changed.notify()
        }
      })()
    }

    /** The untried candidate with the fewest past failures (then the first found), if it is due. */
    const pick = (now: number): { peer: PeerId | undefined; untried: number } => {
      let best: PeerId | undefined
      let bestScore = Number.POSITIVE_INFINITY
      let untried = 0
      for (const peer of feed.known) {
        if (tried.has(peer.toString())) continue
        untried++
        const score = this.failures.score(peer)
        if (score < bestScore) {
          best = peer
          bestScore = score
        }
      }
      const held = bestScore > 0 && !feed.finished && now - lastStart < hedgeMs
      return { peer: held ? undefined : best, untried }
    }

    while (manifest === undefined && !signal.aborted) {
      const now = performance.now()
      const due = running.size === 0 || now - lastStart >= hedgeMs
      let untried = 0
      if (due && running.size < MAX_MANIFEST_ATTEMPTS_IN_FLIGHT) {
        const next = pick(now)
        untried = next.untried
        if (next.peer !== undefined) {
          attempt(next.peer)
          continue
        }
        // Everyone found so far was asked and the hedge is due: the connected peers now.
        if (untried === 0 && tried.size > 0) feed.wantMore()
      }
      if (running.size === 0 && untried === 0 && feed.finished) break
      const wake = new AbortController()
      const waitMs = Math.max(0, lastStart + hedgeMs - now)
      await Promise.race([
        changed.wait(),
        feed.next(),
        delay(waitMs > 0 ? waitMs : hedgeMs, AbortSignal.any([raceSignal, wake.signal])),
      ])
      wake.abort()
    }
    await verifying
    if (manifest !== undefined) {
      for (const { peer, startedAt } of running.values()) {
        if (startedAt < winnerStartedAt) this.failures.failed(peer)
      }
    }
    race.abort(new BwnodeError(ERR.ABORTED, 'another provider sent the manifest first'))
    return { manifest, asked: tried.size, ...(lendingRefusal === undefined ? {} : { lendingRefusal }) }
  }
}

/** A fetch's session with one peer, and whether the peer became one of its providers. */
interface OpenSession {
  peer: PeerId
  session: CountingSession
  joined: boolean
}

/**
 * A session that counts its unanswered requests (a silent peer is aborted, not closed) and
 * reports the bytes of every verified chunk it returns (`onReceived`), used or not.
 */
class CountingSession implements ProviderSession {
  pending = 0
  private readonly inner: ProviderSession
  private readonly onReceived: (bytes: number) => void

  constructor(inner: ProviderSession, onReceived: (bytes: number) => void) {
    this.inner = inner
    this.onReceived = onReceived
  }

  private async counted<T>(work: () => Promise<T>): Promise<T> {
    this.pending++
    try {
      return await work()
    } finally {
      this.pending--
    }
  }

  get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    return this.counted(async () => {
      const bytes = await this.inner.get(cid, options)
      this.onReceived(bytes.byteLength)
      return bytes
    })
  }

  have(datasetCid: CID, options?: { signal?: AbortSignal }) {
    return this.counted(() => this.inner.have(datasetCid, options))
  }

  manifest(datasetCid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    return this.counted(() => this.inner.manifest(datasetCid, options))
  }

  close(): Promise<void> | void {
    return this.inner.close()
  }

  get closed(): boolean | undefined {
    return this.inner.closed
  }

  get abort(): (() => void) | undefined {
    const inner = this.inner
    return inner.abort === undefined ? undefined : () => inner.abort?.()
  }
}

/**
 * Provider discovery shared by the manifest step and the scheduler: one DHT walk, replayed to
 * each reader, so peers found early are not looked up twice; then the connected peers
 * (env.connectedPeers), offered when the walk ends however it ends (found all, failed, timed
 * out), or earlier: when the walk has found nobody after `connectedAfterMs`, or when a reader
 * has asked everyone found so far (`wantMore`). An empty routing table makes the walk wait out
 * its whole timeout, and a connected peer may hold the dataset all along.
 */
class ProviderFeed {
  private readonly found: PeerId[] = []
  private readonly seen = new Set<string>()
  private dhtFound = 0
  private done = false
  private readonly changed = new Notifier()
  private readonly more = Promise.withResolvers<void>()

  constructor(
    env: FetchEnvironment,
    cid: CID,
    signal: AbortSignal,
    timeoutMs = DEFAULT_DISCOVERY_TIMEOUT_MS,
    connectedAfterMs = DEFAULT_CONNECTED_PEERS_AFTER_MS,
  ) {
    this.seen.add(env.self.toString())
    const walkSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
    const walk = (async () => {
      try {
        for await (const peer of env.findProviders(cid, walkSignal)) {
          if (this.add(peer)) this.dhtFound++
        }
      } catch (err) {
        log('provider discovery ended: %s', errorMessage(err))
      }
    })()
    const connected = (async () => {
      const connectedPeers = env.connectedPeers
      if (connectedPeers === undefined) return
      const early = (async () => {
        await delay(connectedAfterMs, signal)
        // Providers from the DHT come first while the walk is finding some.
        if (this.dhtFound > 0) await walk
      })()
      await Promise.race([walk, early, this.more.promise])
      if (signal.aborted) return
      try {
        for (const peer of await connectedPeers(signal, this.seen)) this.add(peer)
      } catch (err) {
        log('listing connected peers failed: %s', errorMessage(err))
      }
    })()
    void Promise.allSettled([walk, connected]).then(() => {
      this.done = true
      this.changed.notify()
    })
  }

  private add(peer: PeerId): boolean {
    if (this.seen.has(peer.toString())) return false
    this.seen.add(peer.toString())
    this.found.push(peer)
    this.changed.notify()
    return true
  }

  /** Peers found so far, in the order found. */
  get known(): readonly PeerId[] {
    return this.found
  }

  get finished(): boolean {
    return this.done
  }

  /** Resolves when a peer is found or discovery ends. */
  next(): Promise<void> {
    return this.changed.wait()
  }

  /** A reader has asked every peer found so far: offer the connected peers now. */
  wantMore(): void {
    this.more.resolve()
  }

  async *peers(): AsyncGenerator<PeerId> {
    let index = 0
    while (true) {
      if (index < this.found.length) {
        yield this.found[index++]!
        continue
      }
      if (this.done) return
      await this.changed.wait()
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
