/**
 * The local HTTP API's contract: where a daemon tells its clients how to reach it (`<data>/api.json`)
 * and the replies they read. Types and one constant only: the client (src/client/api-client.ts), the CLI,
 * the lab and the live experiment import it without loading the node (libp2p, LevelDB) or the
 * server (fastify); the producers (node/, store/, api/routes/) declare their replies with it.
 * Every import here is `import type`, erased at run time (tests/unit/import-graph.test.ts).
 */
import type { LinkConfig } from '../config/schema.ts'
import type { FetchProgress, FetchResult } from '../fetch/types.ts'
import type { PeerSummary } from '../ledger/ledger.ts'
import type { LendingState } from '../lending/allowance.ts'
import type { Reachability } from '../nat/reachability.ts'
import type { BandwidthPoint, TrafficFigures } from '../node/bandwidth.ts'
import type { OfferLending } from '../protocols/offer/record.ts'
import type { AddProgress as StoreAddProgress, StoreUsage } from '../store/content-store.ts'

/** An offer's lending state as GET /api/offers shows it. */
/** Bytes and rates in and out (GET /api/stats/bw, the dashboard), one slot of their history, the store's disk. */
export type { BandwidthPoint, OfferLending, StoreUsage, TrafficFigures }

/** `<data>/api.json`: how the CLI finds and authenticates to a running daemon. */
/** Chunk size used when none is given, in bytes (1 MiB). */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024
/** Smallest chunk size accepted, in bytes (64 KiB): below this, per-request overhead dominates. */
export const MIN_CHUNK_SIZE = 64 * 1024
/** Largest chunk size accepted, in bytes (4 MiB): a chunk is held whole in memory on both ends. */
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024

export const API_FILE = 'api.json'

/**
 * `<data>/api-token`: the API token, mode 0600, made once and kept across restarts (`bwnode token`
 * prints it, `bwnode token --rotate` replaces it; the daemon copies it into api.json).
 */
export const API_TOKEN_FILE = 'api-token'

export interface ApiFile {
  url: string
  token: string
  peerId: string
}

/** GET /api/status */
export interface NodeStatus {
  /** bwnode's version (package.json). */
  version: string
  peerId: string
  multiaddrs: string[]
  connectedPeers: number
  dhtRoutingTableSize: number
  dhtMode: 'client' | 'server'
  /**
   * The node's first walk of the DHT towards its own key (kad-dht's self-query): every lookup of a
   * new node (a fetch's provider search among them) waits for it, and it starts once a peer is
   * connected. null until it has finished; then seconds after start, and the peers it found.
   */
  dhtJoined: { afterSeconds: number; peersFound: number } | null
  dataDir: string
  uptimeSeconds: number
  offer: { uplinkMbps: number; maxConcurrent: number; pricePerGiB: number }
  /** Byte caps, schedule, what was served today and this month, and whether lending is open. */
  lending: LendingState
  coordinate: { x: number; y: number; height: number; error: number }
  link: LinkConfig | null
  /** How peers outside can reach this node (src/nat/reachability.ts), and what it relays for others. */
  reachability: NodeReachability
}

/** NodeStatus.reachability: `kind` null when NAT traversal is off (a loopback-only node). */
export type NodeReachability = Omit<Reachability, 'kind'> & {
  kind: Reachability['kind'] | null
  /** This node as a circuit relay (config `relay`): null when it is not one. */
  relay: { reservations: number; maxReservations: number } | null
}

/** GET /api/peers: one known peer. */
export interface PeerEntry {
  peerId: string
  addrs: string[]
  connected: boolean
  /** How the open connections reach it: direct, only through a relay, or none open. */
  connection: 'direct' | 'relayed' | null
  rttMs: { p50: number; p90: number; p99: number; samples: number } | null
  throughputMBps: number | null
  estimatedRttMs: number | null
}

/** GET /api/peers/:peerId: what this node knows of one peer. */
export interface PeerDetail {
  peerId: string
  connected: boolean
  /** Addresses in the peer store. */
  addrs: string[]
  /** Open connections; `relayed` when it runs through a circuit relay (a limited connection). */
  connections: Array<{
    remoteAddr: string
    direction: 'inbound' | 'outbound'
    relayed: boolean
    openedAt: number
  }>
  rttMs: PeerEntry['rttMs']
  /** The newest measured RTTs, oldest first (at most 120). */
  rttHistory: Array<{ time: number; rttMs: number }>
  estimatedRttMs: number | null
  /** Since the daemon started: in = verified bytes fetched from it, out = bytes served to it. */
  traffic: TrafficFigures
  /** The ledger's account of the peer, as GET /api/credits lists it: earned and spent in credits. */
  credits: Omit<PeerSummary, 'peerId'>
  /** The offer it published, if this node holds an unexpired copy. */
  offer: {
    uplinkMbps: number
    maxConcurrent: number
    pricePerGiB: number
    expiresAt: number
    lending: OfferLending | null
  } | null
  /** Its offered uplink in bytes/s; null without an offer or with an uncapped one. */
  offeredBytesPerSec: number | null
  /** What it delivered to this node's fetches (moving average of measured transfers), bytes/s. */
  deliveredBytesPerSec: number | null
}

/** A dataset in the store (POST /api/datasets, POST /api/seeds; GET /api/datasets adds `provided`). */
export interface DatasetInfo {
  /** dataset CID (of the manifest bytes) */
  cid: string
  name: string
  /** total bytes of all files */
  bytes: number
  /** number of chunk entries in the manifest (a repeated chunk counts each time) */
  chunks: number
  /** when this node first stored the dataset, ms since the epoch */
  addedAt: number
  /** every chunk is present and the dataset was marked complete */
  complete: boolean
}

/** POST /api/fetch, GET /api/transfers[/:id] */
export interface TransferInfo {
  id: string
  cid: string
  out: string | null
  state: 'running' | 'done' | 'failed' | 'cancelled'
  startedAt: number
  progress: FetchProgress | null
  result: (FetchResult & { out: string | null }) | null
  error: { code: string; message: string } | null
}

/** An add's progress: the store's counts and the read rate since it started, bytes/s. */
export interface AddProgress extends StoreAddProgress {
  bytesPerSec: number
}

/** POST /api/datasets with `background: true`, GET /api/adds[/:id] */
export interface AddJobInfo {
  id: string
  /** the absolute path being added, on the daemon's machine */
  path: string
  state: 'running' | 'done' | 'failed'
  startedAt: number
  progress: AddProgress | null
  result: DatasetInfo | null
  error: { code: string; message: string } | null
}

export interface BalancePoint {
  /** ms since the epoch */
  time: number
  /** credits after this event */
  balance: number
}

/** GET /api/dashboard: everything the dashboard shows, in one reply. */
export interface DashboardSnapshot {
  time: number
  node: NodeStatus
  /** Bytes in and out since start, rates, and their history (10 s slots, the last hour). */
  bandwidth: TrafficFigures & { since: number; series: BandwidthPoint[] }
  /** Chunk bytes stored and the data dir's disk. */
  disk: StoreUsage
  peers: Array<
    PeerEntry & {
      coordinate: { x: number; y: number } | null
      servedBytes: number
      fetchedBytes: number
      earned: number
      spent: number
    }
  >
  datasets: Array<
    DatasetInfo & {
      provided: boolean
      servedBytes: number
      servedChunks: number
      lastServedAt: number | null
    }
  >
  /** The 20 newest. */
  transfers: TransferInfo[]
  credits: { balance: number; earned: number; spent: number; grant: number; series: BalancePoint[] }
  offers: Array<{
    peerId: string
    self: boolean
    uplinkMbps: number
    maxConcurrent: number
    pricePerGiB: number
    estimatedRttMs: number | null
    coordinate: { x: number; y: number }
    expiresAt: number
    lending: OfferLending | null
  }>
}
