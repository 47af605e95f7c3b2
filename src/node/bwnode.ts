import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { LevelDatastore } from 'datastore-level'
import type { Level } from 'level'
import type { BwnodeConfig, LinkConfig } from '../config/schema.ts'
import type { NodeReachability, NodeStatus, PeerDetail, PeerEntry } from '../contract/api.ts'
import { type Database, openDatabase } from '../db/database.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, ConfigError, errorCode, errorMessage } from '../errors/index.ts'
import type { PeerLatencySummary, Pinger } from '../latency/recorder.ts'
import { LatencyRecorder } from '../latency/recorder.ts'
import { type TransferSample, TransferSampler } from '../latency/sampler.ts'
import { estimateRtt } from '../latency/vivaldi.ts'
import { MICROCREDITS_PER_CREDIT } from '../ledger/constants.ts'
import { VoucherRejected } from '../ledger/errors.ts'
import { Ledger } from '../ledger/ledger.ts'
import { LendingAllowance, type LendingState } from '../lending/allowance.ts'
import { createLinkEmulator } from '../net/emulator.ts'
import type { NodeLink } from '../net/link.ts'
import { UplinkLoad } from '../net/uplink-load.ts'
import type { ChunkSession } from '../protocols/chunk/client.ts'
import { ChunkErrorCode } from '../protocols/chunk/codes.ts'
import { type ChunkServer, type ChunkServerInit, registerChunkProtocol } from '../protocols/chunk/handler.ts'
import { ChunkSessionPool } from '../protocols/chunk/session-pool.ts'
import type { ChunkSource, ServePolicy } from '../protocols/chunk/types.ts'
import { OfferBook, type RankedOffer } from '../protocols/offer/book.ts'
import { offerSelectors, offerValidators } from '../protocols/offer/dht.ts'
import { Semaphore, TokenBucket } from '../protocols/offer/limits.ts'
import type { OfferLending } from '../protocols/offer/record.ts'
import { ContentStore } from '../store/content-store.ts'
import { packageVersion } from '../util/version.ts'
import { BandwidthMeter, type BandwidthReport } from './bandwidth.ts'
import { connectedChunkPeers, DatasetService, providersFromDht } from './datasets.ts'
import { countProviderRecords } from './dht-records.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { type BwnodeLibp2p, buildLibp2p, type Libp2pInit } from './libp2p.ts'
import { NodeMetrics } from './metrics.ts'
import { Payments, type SessionPayer } from './payments.ts'
import { describePeer, isRelayed, offeredBytesPerSec, rttWindow } from './peer-detail.ts'
import { ServedByDataset } from './served.ts'

/** A locality probe (one ping) that takes longer than this is abandoned, ms. */
const PROBE_TIMEOUT_MS = 5_000

/**
 * Closing the connections to a peer cut off for debt waits this long for their streams to
 * close gracefully, then aborts them, ms: a peer that stops reading must not keep them open.
 */
const HANG_UP_TIMEOUT_MS = 2_000

/** The emulated link in the shape the emulator wants: 0 Mbit/s means "no cap". */
export function emulatedLink(link: LinkConfig): NodeLink {
  return {
    accessLatencyMs: link.accessLatencyMs,
    uplinkMbps: link.uplinkMbps === 0 ? Number.POSITIVE_INFINITY : link.uplinkMbps,
    downlinkMbps: link.downlinkMbps === 0 ? Number.POSITIVE_INFINITY : link.downlinkMbps,
    position: link.position,
    routeInflation: link.routeInflation,
  }
}

/** The household traffic and queue a node's link config puts on its uplink. */
export function uplinkLoadOf(link: LinkConfig): UplinkLoad {
  return new UplinkLoad({
    crossTrafficShare: link.crossTraffic?.share ?? 0,
    crossTrafficGreedy: link.crossTraffic?.greedy ?? true,
    bufferMs: link.queueMs,
  })
}

/** kad-dht's event when a self-query finished, dispatched on libp2p's event bus. */
const SELF_QUERY_EVENT = 'kad-dht:query:self'

/**
 * One process = one node: a persistent identity, a LevelDB in the data dir, a
 * libp2p peer on the private DHT, and the services that make it a bandwidth
 * node: content store and chunk protocol, fetcher, latency recorder, offers,
 * credit ledger.
 */
export class Bwnode {
  readonly config: BwnodeConfig
  readonly dataDir: string
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  readonly db: Database
  readonly libp2p: BwnodeLibp2p
  readonly store: ContentStore
  readonly datasets: DatasetService
  readonly latency: LatencyRecorder
  readonly ledger: Ledger
  readonly offers: OfferBook
  readonly metrics: NodeMetrics
  /** Bytes served per dataset (dashboard, metrics). */
  readonly served: ServedByDataset
  /** Daily and monthly byte caps and the serving schedule (config `lending`). */
  readonly lending: LendingAllowance
  /** Bytes in and out since start, with rates, per peer and dataset (`bwnode stats bw`). */
  readonly bandwidth = new BandwidthMeter()
  /** bwnode's version, read once from package.json. */
  readonly version = packageVersion()
  private readonly payments: Payments
  /** Chunk sessions kept warm between fetches (see ChunkSessionPool). */
  private readonly sessions: ChunkSessionPool
  chunkServer: ChunkServer | undefined
  /** Timeouts and limits of the chunk server; a lab running in dilated time stretches them. */
  chunkServerInit: ChunkServerInit = {}
  private pinger: Pinger | undefined
  private startedAt = 0
  /** When start() began: the DHT join is timed from it. */
  private startingAt = 0
  /** When the first self-query of kad-dht finished (see NodeStatus.dhtJoined). */
  private dhtJoined: NodeStatus['dhtJoined'] = null

  private constructor(
    fields: Pick<Bwnode, 'config' | 'dataDir' | 'privateKey' | 'peerId' | 'db' | 'libp2p' | 'metrics'>,
  ) {
    this.config = fields.config
    this.dataDir = fields.dataDir
    this.privateKey = fields.privateKey
    this.peerId = fields.peerId
    this.db = fields.db
    this.libp2p = fields.libp2p
    this.metrics = fields.metrics
    this.sessions = new ChunkSessionPool(this.libp2p)
    this.metrics.bind({
      credits: () => ({
        earned: this.ledger.earned / MICROCREDITS_PER_CREDIT,
        spent: this.ledger.spent / MICROCREDITS_PER_CREDIT,
        balance: this.ledger.balance / MICROCREDITS_PER_CREDIT,
      }),
      dht: () => ({
        routingTableSize: this.status().dhtRoutingTableSize,
        providedDatasets: this.datasets.providedCount,
      }),
      providerRecords: () => countProviderRecords(this.db),
      activeTransfers: () => this.datasets.activeCount,
      store: () => this.store.usage(),
    })
    this.store = new ContentStore({
      dataDir: this.dataDir,
      db: this.db,
      chunkSize: this.config.store.chunkSizeBytes,
      minFreeBytes: this.config.store.minFreeBytes,
    })
    this.latency = new LatencyRecorder({ db: this.db })
    this.lending = new LendingAllowance({ db: this.db, limits: this.config.lending })
    this.served = new ServedByDataset({
      db: this.db,
      manifests: async () => {
        const out: Array<{ cid: string; chunks: string[] }> = []
        for (const dataset of await this.store.list()) {
          const manifest = await this.store.getManifest(dataset.cid)
          if (manifest !== undefined)
            out.push({ cid: dataset.cid, chunks: manifest.files.flatMap((f) => f.chunks) })
        }
        return out
      },
      onAttributed: (dataset, bytes) => {
        this.metrics.servedFor(dataset, bytes)
        this.bandwidth.sentFor(dataset, bytes)
      },
    })
    this.ledger = new Ledger({
      db: this.db,
      self: this.peerId,
      privateKey: this.privateKey,
      grantCredits: Math.round(this.config.ledger.grantCredits * MICROCREDITS_PER_CREDIT),
      paymentThresholdBytes: this.config.ledger.paymentThresholdBytes,
      disconnectThresholdBytes: this.config.ledger.disconnectThresholdBytes,
    })
    this.payments = new Payments(this.ledger)
    this.offers = new OfferBook(
      {
        peerId: this.peerId,
        privateKey: this.privateKey,
        dht: this.libp2p.services.dht,
        contentRouting: this.libp2p.contentRouting,
      },
      {
        ttlMs: this.config.offer.ttlMs,
        localCoordinate: () => this.latency.coordinate,
        terms: () => ({
          uplinkMbps: this.config.offer.uplinkMbps,
          maxConcurrent: this.config.offer.maxConcurrent,
          pricePerGiB: this.config.offer.pricePerGiB,
          ...(this.lending.limited ? { lending: offerLending(this.lending.state()) } : {}),
          coordinate: this.latency.coordinate,
          addrs: this.libp2p
            .getMultiaddrs()
            .slice(0, 8)
            .map((addr) => addr.toString()),
        }),
      },
    )
    this.datasets = new DatasetService({
      store: this.store,
      libp2p: this.libp2p,
      reprovideIntervalMs: this.config.store.reprovideIntervalMs,
      onTransferEnd: (info) => {
        if (info.state !== 'running') this.metrics.fetchEnded(info.state, info.error?.code)
      },
      fetchEnvironment: {
        self: this.peerId,
        findProviders: providersFromDht(this.libp2p),
        connectedPeers: connectedChunkPeers(this.libp2p),
        openSession: (peer, signal, onTiming, datasetCid) =>
          this.openSession(peer, signal, onTiming, datasetCid?.toString()),
        hint: (peer) => this.providerHint(peer),
        probeRtt: async (peer, signal) =>
          (await this.ping(peer.toString(), AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)])))
            .rttMs,
        afford: (bytes, pricePerGiB) => this.payments.assertAffordable(bytes, pricePerGiB),
      },
    })
  }

  static async create(config: BwnodeConfig, extra: Partial<Libp2pInit> = {}): Promise<Bwnode> {
    const dataDir = config.dataDir
    const { privateKey } = await loadOrCreateIdentity(dataDir)
    const db = await openDatabase(dataDir)
    const metrics = new NodeMetrics()
    try {
      // The peer store and DHT records live in the same LevelDB, so a restarted
      // node remembers its peers and rejoins without waiting for bootstrap.
      const datastore = new LevelDatastore(
        db.sublevel<string, Uint8Array>('libp2p', { valueEncoding: 'view' }) as unknown as Level<
          string,
          Uint8Array
        >,
      )
      const libp2p = await buildLibp2p({
        config,
        privateKey,
        datastore,
        validators: offerValidators,
        selectors: offerSelectors,
        metricsRegistry: metrics.registry,
        ...(config.link === undefined
          ? {}
          : {
              connectionProtector: createLinkEmulator(emulatedLink(config.link), {
                load: uplinkLoadOf(config.link),
              }),
            }),
        ...extra,
      })
      return new Bwnode({ config, dataDir, privateKey, peerId: libp2p.peerId, db, libp2p, metrics })
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Price this node charges, in micro-credits per GiB (the ledger's unit). */
  /**
   * This node's paying side, for sessions opened outside its fetcher (the live experiment): the
   * same channels, vouchers and ledger its own fetches use.
   */
  get payer(): SessionPayer {
    return this.payments
  }

  get priceMicroPerGiB(): number {
    return Math.round(this.config.offer.pricePerGiB * MICROCREDITS_PER_CREDIT)
  }

  async start(): Promise<void> {
    this.startingAt = Date.now()
    // libp2p's types list only its own events; kad-dht's go through the same bus
    ;(this.libp2p as unknown as EventTarget).addEventListener(SELF_QUERY_EVENT, this.onSelfQuery)
    try {
      await this.libp2p.start()
    } catch (err) {
      await Promise.resolve(this.libp2p.stop()).catch(() => {})
      await this.db.close()
      const message = errorMessage(err)
      if (/EADDRINUSE|address already in use/i.test(message)) {
        throw new ConfigError(`listen ${this.config.listen.join(',')}: address already in use`)
      }
      throw new BwnodeError(ERR.START, `libp2p failed to start: ${message}`, { cause: err })
    }
    await this.store.start()
    await this.ledger.open()
    await this.latency.ready()
    await this.served.open()
    await this.lending.open()
    // Peers' copies of the offer should say when lending opens or closes, not an hour later.
    this.lending.watch(() => this.offers.refresh())
    this.chunkServer = await registerChunkProtocol(
      this.libp2p,
      this.chunkSource(),
      this.servePolicy(),
      this.chunkServerInit,
    )
    this.datasets.start()
    this.pinger = this.latency.startPinging(this.rttObserved(), this.config.latency.pingIntervalMs, {
      coordinateOf: (peer) => this.offers.coordinateOf(peer),
    })
    this.libp2p.addEventListener('peer:connect', this.onFirstPeer)
    if (this.libp2p.getPeers().length > 0) this.onFirstPeer()
    this.startedAt = Date.now()
  }

  /** Offers go out once the node has someone to store them with. */
  private readonly onFirstPeer = (): void => {
    this.libp2p.removeEventListener('peer:connect', this.onFirstPeer)
    this.offers.start()
  }

  private readonly onSelfQuery = (evt: Event): void => {
    const { peers } = (evt as CustomEvent<{ peers: number }>).detail
    this.dhtJoined ??= { afterSeconds: (Date.now() - this.startingAt) / 1000, peersFound: peers }
  }

  async stop(): Promise<void> {
    this.libp2p.removeEventListener('peer:connect', this.onFirstPeer)
    ;(this.libp2p as unknown as EventTarget).removeEventListener(SELF_QUERY_EVENT, this.onSelfQuery)
    await this.datasets.stop()
    this.offers.stop()
    await this.pinger?.stop()
    await this.sessions.close()
    await this.libp2p.stop()
    await this.lending.close()
    await this.ledger.close()
    await this.latency.close()
    await this.served.close().catch(() => {})
    await this.db.close()
  }

  /** libp2p as the pinger sees it, with every RTT also going to the metrics. */
  private rttObserved() {
    const libp2p = this.libp2p
    const metrics = this.metrics
    return {
      getConnections: () => libp2p.getConnections(),
      services: {
        ping: {
          async ping(peer: PeerId, options?: { signal?: AbortSignal }): Promise<number> {
            const rttMs = await libp2p.services.ping.ping(peer, options)
            metrics.observeRtt(peer.toString(), rttMs)
            return rttMs
          },
        },
      },
    }
  }

  /** What the chunk server reads: the store, with "not held here" as undefined. */
  private chunkSource(): ChunkSource {
    const store = this.store
    const unlessUnknown = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read()
      } catch (err) {
        if ((err as { code?: string }).code === ERR.DATASET_NOT_FOUND) return undefined
        throw err
      }
    }
    return {
      getChunk: (cid) => store.getChunk(cid),
      getManifestBytes: (cid) => store.getManifestBytes(cid),
      haveMap: (cid) => unlessUnknown(() => store.haveMap(cid)),
    }
  }

  /**
   * How this node serves: never more peers at once than offered (semaphore),
   * never faster than offered (token bucket on the uplink), and only to peers
   * that keep paying (ledger thresholds; vouchers arrive on the same stream).
   * A peer refused past the disconnect threshold loses every connection to this
   * node, not only the stream. It may dial again; its debt is still on the
   * ledger, so each request it cannot afford disconnects it again, until a
   * voucher (PAY is free) clears what it was refused. Nothing bans it.
   * Outside the lending schedule or past a byte cap, HAVE, GET and MANIFEST are refused with
   * ERR_LENDING_CLOSED; bytes count against the caps when the server commits to sending them,
   * as they are charged to the peer.
   */
  private servePolicy(): ServePolicy {
    const offer = this.config.offer
    const slots = new Semaphore(offer.maxConcurrent)
    const rateBytesPerSec = (offer.uplinkMbps * 1e6) / 8
    const uplink =
      offer.uplinkMbps > 0
        ? new TokenBucket({ rateBytesPerSec, burstBytes: Math.max(64 * 1024, rateBytesPerSec * 0.05) })
        : undefined
    const price = this.priceMicroPerGiB
    const lending = this.lending
    return {
      admit: () => (slots.tryAcquire() ? () => slots.release() : undefined),
      beforeHave: () => lending.check(0),
      beforeServe: (peer, bytes) => {
        // Checked before the charge, counted after it: a refused request costs the peer nothing.
        lending.check(bytes)
        if (price > 0) this.ledger.chargeServe(peer, bytes)
        lending.record(bytes)
      },
      disconnect: (peer) => this.libp2p.hangUp(peer, { signal: AbortSignal.timeout(HANG_UP_TIMEOUT_MS) }),
      ...(uplink === undefined
        ? {}
        : { pace: (bytes: number, signal: AbortSignal) => uplink.take(bytes, signal) }),
      onVoucher: async (peer, voucher) => {
        try {
          await this.ledger.acceptVoucher(peer, voucher, price)
        } catch (err) {
          if (err instanceof VoucherRejected) this.metrics.refusedPayments.inc({ reason: err.code })
          throw err
        }
      },
      onServed: (peer, cid, bytes) => {
        this.metrics.served(peer.toString(), bytes)
        this.bandwidth.sent(peer.toString(), bytes)
        this.served.record(cid.toString(), bytes)
      },
      price: () => price,
    }
  }

  private async openSession(
    peer: PeerId,
    signal: AbortSignal,
    onTiming: (ttfbMs: number) => void,
    dataset: string | undefined,
  ) {
    const setupStarted = performance.now()
    const sampler = new TransferSampler()
    const record = (sample: TransferSample | undefined): void => {
      if (sample === undefined) return
      void this.latency.recordTtfb(peer, sample.ttfbMs).catch(() => {})
      if (sample.seconds > 0 && sample.bytes > 0) {
        void this.latency.recordTransfer(peer, sample.bytes, sample.seconds).catch(() => {})
      }
    }
    const { session, fresh } = await this.sessions.acquire(
      peer,
      {
        onChunk: (from, _cid, bytes, timing) => {
          onTiming(timing.ttfbMs)
          this.metrics.fetched(from.toString(), bytes.byteLength)
          this.bandwidth.received(from.toString(), dataset, bytes.byteLength)
          this.metrics.chunkLatency.observe(timing.totalMs / 1000)
          record(sampler.add(bytes.byteLength, timing.ttfbMs))
        },
        makeVoucher: (payee, bytes) => this.payments.voucherFor(payee, bytes),
      },
      signal,
    )
    // A pooled session was set up by an earlier fetch: only a new stream measures setup.
    if (fresh) void this.latency.recordConnectSetup(peer, performance.now() - setupStarted).catch(() => {})
    const metrics = this.metrics
    return {
      get: async (cid: Parameters<ChunkSession['get']>[0], options?: { signal?: AbortSignal }) => {
        try {
          return await session.get(cid, options)
        } catch (err) {
          if (errorCode(err) === ChunkErrorCode.CHUNK_HASH_MISMATCH) metrics.badChunks.inc()
          throw err
        }
      },
      manifest: (cid: Parameters<ChunkSession['manifest']>[0], options?: { signal?: AbortSignal }) =>
        session.manifest(cid, options),
      have: async (cid: Parameters<ChunkSession['have']>[0], options?: { signal?: AbortSignal }) => {
        const reply = await session.have(cid, options)
        await this.payments.quote(peer, reply.pricePerGiB)
        return reply
      },
      abort: () => session.abort(),
      get closed() {
        return session.closed
      },
      close: async () => {
        // A voucher is recorded as spent before it is sent: let the ones being signed go out,
        // or the payer would have paid for bytes the provider is never credited.
        await this.payments.settled(peer)
        // kept for the next fetch from this peer (a warm stream), or closed if it cannot be
        await this.sessions.release(session)
        record(sampler.finish())
      },
    }
  }

  /** What is known about a provider before fetching from it: measured RTT, else Vivaldi's estimate. */
  private async providerHint(peer: PeerId) {
    const summary = await this.latency.summary(peer).catch(() => undefined)
    // An unknown provider's offer (its uplink and coordinate) is one DHT get away; worth a
    // second at most, since the scheduler's first assignments are made from it.
    const offer =
      this.offers.get(peer) ??
      (await this.offers.fetch(peer, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))
    const measuredRtt = summary !== undefined && summary.rttMs.samples > 0 ? summary.rttMs.p50 : undefined
    const estimatedRtt = this.estimatedRtt(peer)
    const offered = offeredBytesPerSec(offer)
    return {
      ...(measuredRtt !== undefined
        ? { rttMs: Math.max(measuredRtt, 0.1), rttSource: 'measured' as const }
        : estimatedRtt !== undefined
          ? { rttMs: estimatedRtt, rttSource: 'estimated' as const }
          : { rttSource: 'unknown' as const }),
      ...(offered === undefined ? {} : { offeredBytesPerSec: offered }),
      ...(summary?.throughputMBps == null ? {} : { measuredBytesPerSec: summary.throughputMBps * 1e6 }),
    }
  }

  estimatedRtt(peer: PeerId | string): number | undefined {
    const theirs = this.offers.coordinateOf(peer)
    return theirs === undefined ? undefined : estimateRtt(this.latency.coordinate, theirs)
  }

  status(): NodeStatus {
    const dht = this.libp2p.services.dht as unknown as { routingTable?: { size: number } }
    return {
      version: this.version,
      peerId: this.peerId.toString(),
      multiaddrs: this.libp2p.getMultiaddrs().map((addr) => addr.toString()),
      connectedPeers: this.libp2p.getPeers().length,
      dhtRoutingTableSize: dht.routingTable?.size ?? 0,
      dhtMode: this.libp2p.services.dht.getMode(),
      dhtJoined: this.dhtJoined,
      dataDir: this.dataDir,
      uptimeSeconds: this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000,
      offer: { ...this.config.offer },
      lending: this.lending.state(),
      coordinate: this.latency.coordinate,
      link: this.config.link ?? null,
      reachability: this.reachability(),
    }
  }

  /** How peers outside reach this node, from its addresses; and its reservations as a relay. */
  reachability(): NodeReachability {
    const services = this.libp2p.services as { relay?: CircuitRelayService }
    const found = this.libp2p.services.observedAddresses?.reachability()
    return {
      kind: found?.kind ?? null,
      publicAddrs: found?.publicAddrs ?? [],
      observedAddrs: found?.observedAddrs ?? [],
      relayAddrs: found?.relayAddrs ?? [],
      relay:
        services.relay === undefined
          ? null
          : {
              reservations: services.relay.reservations.size,
              maxReservations: this.config.relay.maxReservations,
            },
    }
  }

  /** `bwnode stats bw`: the meter's figures, each dataset with its name when it is held here. */
  async bandwidthReport(): Promise<BandwidthReport> {
    const report = this.bandwidth.report()
    const names = new Map((await this.store.list().catch(() => [])).map((d) => [d.cid, d.name]))
    return { ...report, datasets: report.datasets.map((d) => ({ ...d, name: names.get(d.cid) ?? null })) }
  }

  async peers(): Promise<PeerEntry[]> {
    const connected = new Set(this.libp2p.getPeers().map((peer) => peer.toString()))
    const direct = new Set<string>()
    for (const connection of this.libp2p.getConnections())
      if (!isRelayed(connection)) direct.add(connection.remotePeer.toString())
    const summaries = new Map<string, PeerLatencySummary>()
    for (const summary of await this.latency.peers().catch(() => [])) summaries.set(summary.peerId, summary)
    const entries: PeerEntry[] = []
    for (const peer of await this.libp2p.peerStore.all()) {
      const id = peer.id.toString()
      if (id === this.peerId.toString()) continue
      const summary = summaries.get(id)
      const estimate = this.estimatedRtt(id)
      entries.push({
        peerId: id,
        addrs: peer.addresses.map((a) => a.multiaddr.toString()),
        connected: connected.has(id),
        connection: direct.has(id) ? 'direct' : connected.has(id) ? 'relayed' : null,
        rttMs: rttWindow(summary),
        throughputMBps: summary?.throughputMBps ?? null,
        estimatedRttMs: estimate === undefined ? null : Number(estimate.toFixed(3)),
      })
    }
    return entries.sort(
      (a, b) => Number(b.connected) - Number(a.connected) || a.peerId.localeCompare(b.peerId),
    )
  }

  /** GET /api/peers/:peerId: addresses, connections, RTT history, traffic, credits, offer. */
  async peerDetail(peerIdText: string): Promise<PeerDetail> {
    return describePeer(
      {
        libp2p: this.libp2p,
        latency: this.latency,
        bandwidth: this.bandwidth,
        ledger: this.ledger,
        offers: this.offers,
        estimatedRtt: (peer) => this.estimatedRtt(peer),
      },
      parsePeerId(peerIdText),
    )
  }

  async listOffers(refresh: boolean): Promise<RankedOffer[]> {
    if (refresh) await this.offers.discover({ signal: AbortSignal.timeout(20_000) }).catch(() => [])
    return this.offers.list()
  }

  /** A DHT walk for the peer's addresses (not only the local peer store). */
  async findPeer(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; addrs: string[] }> {
    const target = parsePeerId(peerIdText)
    const info = await this.libp2p.peerRouting.findPeer(target, {
      signal: signal ?? AbortSignal.timeout(30_000),
    })
    return { peerId: info.id.toString(), addrs: info.multiaddrs.map((addr) => addr.toString()) }
  }

  /** Closes every connection to a peer (a lab re-dials to measure connecting, a user drops a peer). */
  async disconnect(peerIdText: string): Promise<{ peerId: string; closed: number }> {
    const target = parsePeerId(peerIdText)
    const closed = this.libp2p.getConnections(target).length
    await this.libp2p.hangUp(target, { signal: AbortSignal.timeout(HANG_UP_TIMEOUT_MS) })
    return { peerId: target.toString(), closed }
  }

  async ping(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; rttMs: number }> {
    const target = parsePeerId(peerIdText)
    const rttMs = await this.libp2p.services.ping.ping(target, {
      signal: signal ?? AbortSignal.timeout(15_000),
    })
    this.metrics.observeRtt(target.toString(), rttMs)
    await this.latency.recordRtt(target, rttMs, this.offers.coordinateOf(target)).catch(() => {})
    return { peerId: target.toString(), rttMs }
  }
}

/** What an offer says of the lending limits: peers' schedulers can skip a closed node. */
function offerLending(state: LendingState): OfferLending {
  return {
    open: state.open,
    ...(state.until === null ? {} : { until: state.until }),
    ...(state.remainingBytes === null ? {} : { remainingBytes: state.remainingBytes }),
  }
}

export function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch {
    throw new BwnodeError(ERR.BAD_PEER_ID, `not a peer id: ${text}`)
  }
}
