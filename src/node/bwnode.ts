import type { PeerId, PrivateKey } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import type { Level } from 'level'
import type { BwnodeConfig } from '../config/schema.ts'
import { type Database, openDatabase } from '../db/database.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, ConfigError, errorMessage } from '../errors/index.ts'
import { LatencyRecorder, type Pinger } from '../latency/recorder.ts'
import { MICROCREDITS_PER_CREDIT } from '../ledger/constants.ts'
import { Ledger } from '../ledger/ledger.ts'
import { LendingAllowance, type LendingState } from '../lending/allowance.ts'
import { createLinkEmulator } from '../net/emulator.ts'
import { type ChunkServerInit, registerChunkProtocol } from '../protocols/chunk/handler.ts'
import { ChunkSessionPool } from '../protocols/chunk/session-pool.ts'
import { OfferBook } from '../protocols/offer/book.ts'
import { offerSelectors, offerValidators } from '../protocols/offer/dht.ts'
import type { OfferLending } from '../protocols/offer/record.ts'
import { ContentStore } from '../store/content-store.ts'
import { packageVersion } from '../util/version.ts'
import { BandwidthMeter } from './bandwidth.ts'
import { connectedChunkPeers, DatasetService, providersFromDht } from './datasets.ts'
import { DhtJoinWatch } from './dht-join.ts'
import { countProviderRecords } from './dht-records.ts'
import { openFetchSession } from './fetch-sessions.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { type BwnodeLibp2p, buildLibp2p, type Libp2pInit } from './libp2p.ts'
import { part, StartOrder } from './lifecycle.ts'
import { emulatedLink, uplinkLoadOf } from './link-emulation.ts'
import { NodeMetrics } from './metrics.ts'
import { Payments, type SessionPayer } from './payments.ts'
import { dropWhenSilent, meteredPings, PeerLatency } from './peer-latency.ts'
import { NodeQueries } from './queries.ts'
import { ServedByDataset } from './served.ts'
import { chunkSourceOf, servePolicyOf } from './serving.ts'

/** A locality probe (one ping) that takes longer than this is abandoned, ms. */
const PROBE_TIMEOUT_MS = 5_000

/** What `Bwnode.create` takes beside the config. */
export interface NodeInit extends Partial<Libp2pInit> {
  /**
   * The latency pinger is the node's heartbeat: a peer that misses PINGS_BEFORE_DROP pings in a
   * row has its connections closed (default true). A lab in dilated time (links K times slower)
   * turns that off: a ping queued behind bulk data on a slowed link is late, not lost.
   */
  abortConnectionOnPingFailure?: boolean
}

/** What `Bwnode.create` opens before the services are built. */
interface Opened {
  config: BwnodeConfig
  privateKey: PrivateKey
  db: Database
  libp2p: BwnodeLibp2p
  metrics: NodeMetrics
  dropSilentPeers: boolean
}

/**
 * One process = one node: a persistent identity, a LevelDB in the data dir, a libp2p peer on
 * the private DHT, and the services that make it a bandwidth node: content store and chunk
 * protocol, fetcher, latency recorder, offers, credit ledger. This class is the wiring: it
 * builds each service from the ones it needs and starts them in that order (`StartOrder`); what
 * the node serves and fetches with is in `serving.ts` and `fetch-sessions.ts`, what the API
 * reads in `queries.ts`.
 */
export class Bwnode {
  readonly config: BwnodeConfig
  readonly dataDir: string
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  readonly db: Database
  readonly libp2p: BwnodeLibp2p
  readonly metrics: NodeMetrics
  readonly store: ContentStore
  readonly latency: LatencyRecorder
  readonly ledger: Ledger
  /** Daily and monthly byte caps and the serving schedule (config `lending`). */
  readonly lending: LendingAllowance
  /** Bytes served per dataset (dashboard, metrics). */
  readonly served: ServedByDataset
  /** Bytes in and out since start, with rates, per peer and dataset (`bwnode stats bw`). */
  readonly bandwidth = new BandwidthMeter()
  readonly offers: OfferBook
  readonly datasets: DatasetService
  /** What the API reads of the node (status, peers, offers) and its actions on a peer. */
  readonly queries: NodeQueries
  /** bwnode's version, read once from package.json. */
  readonly version = packageVersion()
  /** Timeouts and limits of the chunk server; a lab running in dilated time stretches them. */
  chunkServerInit: ChunkServerInit = {}
  private readonly payments: Payments
  private readonly parts: StartOrder
  private startedAt = 0

  private constructor({ config, privateKey, db, libp2p, metrics, dropSilentPeers }: Opened) {
    this.config = config
    this.dataDir = config.dataDir
    this.privateKey = privateKey
    this.peerId = libp2p.peerId
    this.db = db
    this.libp2p = libp2p
    this.metrics = metrics

    // Stores over the database: they depend on nothing else.
    this.store = new ContentStore({
      dataDir: this.dataDir,
      db,
      chunkSize: config.store.chunkSizeBytes,
      minFreeBytes: config.store.minFreeBytes,
    })
    this.latency = new LatencyRecorder({ db })
    this.ledger = new Ledger({
      db,
      self: this.peerId,
      privateKey,
      grantCredits: Math.round(config.ledger.grantCredits * MICROCREDITS_PER_CREDIT),
      paymentThresholdBytes: config.ledger.paymentThresholdBytes,
      disconnectThresholdBytes: config.ledger.disconnectThresholdBytes,
    })
    this.lending = new LendingAllowance({ db, limits: config.lending })
    this.served = new ServedByDataset({
      db,
      manifests: () => datasetChunks(this.store),
      onAttributed: (dataset, bytes) => {
        metrics.servedFor(dataset, bytes)
        this.bandwidth.sentFor(dataset, bytes)
      },
    })
    this.payments = new Payments(this.ledger)

    // Services over libp2p and the stores.
    this.offers = new OfferBook(
      { peerId: this.peerId, privateKey, dht: libp2p.services.dht, contentRouting: libp2p.contentRouting },
      {
        ttlMs: config.offer.ttlMs,
        localCoordinate: () => this.latency.coordinate,
        terms: () => ({
          uplinkMbps: config.offer.uplinkMbps,
          maxConcurrent: config.offer.maxConcurrent,
          pricePerGiB: config.offer.pricePerGiB,
          ...(this.lending.limited ? { lending: offerLending(this.lending.state()) } : {}),
          coordinate: this.latency.coordinate,
          addrs: libp2p
            .getMultiaddrs()
            .slice(0, 8)
            .map((addr) => addr.toString()),
        }),
      },
    )
    const peerLatency = new PeerLatency(this.latency, this.offers)
    const sessions = new ChunkSessionPool(libp2p)
    const fetchParts = {
      pool: sessions,
      latency: this.latency,
      metrics,
      bandwidth: this.bandwidth,
      payments: this.payments,
    }
    this.datasets = new DatasetService({
      store: this.store,
      libp2p,
      reprovideIntervalMs: config.store.reprovideIntervalMs,
      onTransferEnd: (info) => {
        if (info.state !== 'running') metrics.fetchEnded(info.state, info.error?.code)
      },
      fetchEnvironment: {
        self: this.peerId,
        findProviders: providersFromDht(libp2p),
        connectedPeers: connectedChunkPeers(libp2p),
        openSession: (peer, signal, onTiming, datasetCid) =>
          openFetchSession(fetchParts, peer, signal, onTiming, datasetCid?.toString()),
        hint: (peer) => peerLatency.providerHint(peer),
        probeRtt: async (peer, signal) =>
          (
            await this.queries.ping(
              peer.toString(),
              AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
            )
          ).rttMs,
        afford: (bytes, pricePerGiB) => this.payments.assertAffordable(bytes, pricePerGiB),
      },
    })
    const dhtJoin = new DhtJoinWatch(libp2p)
    this.queries = new NodeQueries({
      version: this.version,
      config,
      libp2p,
      store: this.store,
      latency: this.latency,
      peerLatency,
      ledger: this.ledger,
      offers: this.offers,
      lending: this.lending,
      bandwidth: this.bandwidth,
      metrics,
      uptimeSeconds: () => (this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000),
      dhtJoined: () => dhtJoin.joined,
    })
    metrics.bind({
      credits: () => ({
        earned: this.ledger.earned / MICROCREDITS_PER_CREDIT,
        spent: this.ledger.spent / MICROCREDITS_PER_CREDIT,
        balance: this.ledger.balance / MICROCREDITS_PER_CREDIT,
      }),
      dht: () => ({
        routingTableSize: libp2p.services.dht.routingTable.size,
        providedDatasets: this.datasets.providedCount,
      }),
      providerRecords: () => countProviderRecords(db),
      activeTransfers: () => this.datasets.activeCount,
      store: () => this.store.usage(),
    })

    let pinger: Pinger | undefined
    // Offers go out once the node has someone to store them with.
    const publishOffers = (): void => {
      libp2p.removeEventListener('peer:connect', publishOffers)
      this.offers.start()
    }
    // Each part after those it needs; stopped in reverse (the network before the stores).
    this.parts = new StartOrder([
      part('store', () => this.store.start()),
      part(
        'ledger',
        () => this.ledger.open(),
        () => this.ledger.close(),
      ),
      part(
        'latency',
        () => this.latency.ready(),
        () => this.latency.close(),
      ),
      part(
        'served',
        () => this.served.open(),
        () => this.served.close().catch(() => {}),
      ),
      part(
        'lending',
        async () => {
          await this.lending.open()
          // Peers' copies of the offer should say when lending opens or closes, not an hour later.
          this.lending.watch(() => this.offers.refresh())
        },
        () => this.lending.close(),
      ),
      dhtJoin,
      part(
        'libp2p',
        () => this.startLibp2p(),
        () => libp2p.stop(),
      ),
      // No stop of its own: libp2p's stop closes the protocol's streams.
      part('chunk-protocol', async () => {
        const policy = servePolicyOf({
          offer: config.offer,
          priceMicroPerGiB: Math.round(config.offer.pricePerGiB * MICROCREDITS_PER_CREDIT),
          ledger: this.ledger,
          lending: this.lending,
          metrics,
          bandwidth: this.bandwidth,
          served: this.served,
          hangUp: (peer, options) => libp2p.hangUp(peer, options),
        })
        await registerChunkProtocol(libp2p, chunkSourceOf(this.store), policy, this.chunkServerInit)
      }),
      part(
        'chunk-sessions',
        () => {},
        () => sessions.close(),
      ),
      part(
        'pinger',
        () => {
          pinger = this.latency.startPinging(meteredPings(libp2p, metrics), config.latency.pingIntervalMs, {
            coordinateOf: (peer) => this.offers.coordinateOf(peer),
            ...(dropSilentPeers ? { onPingFailure: dropWhenSilent(libp2p) } : {}),
          })
        },
        () => pinger?.stop(),
      ),
      part(
        'offers',
        () => {
          libp2p.addEventListener('peer:connect', publishOffers)
          if (libp2p.getPeers().length > 0) publishOffers()
        },
        () => {
          libp2p.removeEventListener('peer:connect', publishOffers)
          return this.offers.stop()
        },
      ),
      part(
        'datasets',
        () => this.datasets.start(),
        () => this.datasets.stop(),
      ),
    ])
  }

  static async create(config: BwnodeConfig, init: NodeInit = {}): Promise<Bwnode> {
    const { abortConnectionOnPingFailure, ...extra } = init
    const { privateKey } = await loadOrCreateIdentity(config.dataDir)
    const db = await openDatabase(config.dataDir)
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
      return new Bwnode({
        config,
        privateKey,
        db,
        libp2p,
        metrics,
        dropSilentPeers: abortConnectionOnPingFailure !== false,
      })
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /**
   * This node's paying side, for sessions opened outside its fetcher (the live experiment): the
   * same channels, vouchers and ledger its own fetches use.
   */
  get payer(): SessionPayer {
    return this.payments
  }

  /** The parts' names in the order they start (they stop in reverse). */
  get startOrder(): string[] {
    return this.parts.names
  }

  /** Starts every part in order; a node that fails to start has released all it took, its database too. */
  async start(): Promise<void> {
    try {
      await this.parts.start()
    } catch (err) {
      await this.db.close()
      throw err
    }
    this.startedAt = Date.now()
  }

  async stop(): Promise<void> {
    try {
      await this.parts.stop()
    } finally {
      await this.db.close()
    }
  }

  private async startLibp2p(): Promise<void> {
    try {
      await this.libp2p.start()
    } catch (err) {
      await Promise.resolve(this.libp2p.stop()).catch(() => {})
      const message = errorMessage(err)
      if (/EADDRINUSE|address already in use/i.test(message)) {
        throw new ConfigError(`listen ${this.config.listen.join(',')}: address already in use`)
      }
      throw new BwnodeError(ERR.START, `libp2p failed to start: ${message}`, { cause: err })
    }
  }
}

/** Every dataset held here with its chunks (the served-bytes attribution reads them). */
async function datasetChunks(store: ContentStore): Promise<Array<{ cid: string; chunks: string[] }>> {
  const out: Array<{ cid: string; chunks: string[] }> = []
  for (const dataset of await store.list()) {
    const manifest = await store.getManifest(dataset.cid)
    if (manifest !== undefined)
      out.push({ cid: dataset.cid, chunks: manifest.files.flatMap((f) => f.chunks) })
  }
  return out
}

/** What an offer says of the lending limits: peers' schedulers can skip a closed node. */
function offerLending(state: LendingState): OfferLending {
  return {
    open: state.open,
    ...(state.until === null ? {} : { until: state.until }),
    ...(state.remainingBytes === null ? {} : { remainingBytes: state.remainingBytes }),
  }
}
