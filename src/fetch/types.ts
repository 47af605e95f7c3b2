import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** One open chunk-protocol session with a provider (ChunkSession implements it). */
export interface ProviderSession {
  /** Resolves only with bytes whose sha2-256 matches cid (the fetcher stores them without re-hashing). */
  get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  have(
    datasetCid: CID,
    options?: { signal?: AbortSignal },
  ): Promise<{ bitfield: Uint8Array; pricePerGiB: number }>
  manifest(datasetCid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** Ends the session gracefully (outstanding answers and vouchers first). */
  close(): Promise<void> | void
  /**
   * Ends the session at once. Used for a peer that never became a provider of the fetch (a
   * silent one would hold a graceful close for a whole response timeout).
   */
  abort?(): void
  /** True once the session can take no more requests (it failed or was closed). */
  readonly closed?: boolean
}

/** What is known about a provider before the first byte: used to rank it. */
export interface ProviderHint {
  /** Measured (ping) or estimated (network coordinates) round-trip time, ms. */
  rttMs?: number
  /** How the RTT was obtained, for the explanation in --json output. */
  rttSource?: 'measured' | 'estimated' | 'unknown'
  /** Uplink the provider offers to lend, bytes/s. */
  offeredBytesPerSec?: number
  /** Throughput measured on earlier transfers, bytes/s. */
  measuredBytesPerSec?: number
  /** Past failures with this provider in earlier fetches (decayed count; no answer, bad data, drops). */
  pastFailures?: number
}

export interface FetchEnvironment {
  /** Providers of the dataset, as found (DHT); may yield more while the fetch runs. */
  findProviders(cid: CID, signal: AbortSignal): AsyncIterable<PeerId>
  /**
   * Peers already connected that may hold the dataset (they speak the chunk protocol), asked
   * with HAVE: a provider record can still be spreading. Offered after the DHT walk ends (also
   * when it fails or times out), or early if the walk has found nobody after a short while.
   * `known`: peer ids already found (the DHT's providers, this node), to leave out.
   */
  connectedPeers?(signal: AbortSignal, known: ReadonlySet<string>): Promise<PeerId[]>
  /**
   * `onTiming` receives each verified chunk's time to first byte (ms): the RTT estimate.
   * `datasetCid` is the dataset being fetched (the node counts bytes in per dataset).
   */
  openSession(
    peer: PeerId,
    signal: AbortSignal,
    onTiming: (ttfbMs: number) => void,
    datasetCid?: CID,
  ): Promise<ProviderSession>
  hint(peer: PeerId): Promise<ProviderHint>
  /**
   * One network round trip to the peer (a ping), ms. A chunk's time to first byte also counts
   * the provider's queue and both ends' CPU, so the locality bias compares providers by this.
   */
  probeRtt?(peer: PeerId, signal: AbortSignal): Promise<number>
  /** Throws (ERR_INSUFFICIENT_CREDITS) when `bytes` at the provider's price cannot be paid for. */
  afford?(bytes: number, pricePerGiB: number): void
  self: PeerId
}

export interface ProviderReport {
  peerId: string
  /** Bytes of the chunks this provider delivered first (the ones stored). */
  bytes: number
  /**
   * Verified bytes it delivered after another provider's copy had won (endgame duplicates):
   * served and paid for, not stored.
   */
  duplicateBytes: number
  chunks: number
  /** Chunks this provider had of the ones still needed. */
  had: number
  rttMs: number | null
  /** 'measured' (ping), 'ttfb' (the chunks' own lowest time to first byte), 'estimated' (coordinates) or 'unknown'. */
  rttSource: string
  rateMBps: number | null
  window: number
  failures: number
  badChunks: number
  dropped: string | null
  /** Estimated seconds per chunk at the start (lower is better): why it was preferred. */
  initialEstimateMs: number | null
  /** 1 + bias x RTT above the nearest provider's, relative to it; null once dropped. */
  localityPremium: number | null
  /** Share of the bytes the locality bias allotted it at the end (rate / premium, normalised). */
  localityShare: number | null
}

export interface FetchProgress {
  cid: string
  name: string
  totalBytes: number
  doneBytes: number
  totalChunks: number
  doneChunks: number
  /** Chunks already present before this fetch started (resume). */
  resumedChunks: number
  activeProviders: number
  bytesPerSec: number
}

/** A provider whose session died during the fetch, and whether it came back. */
export interface ProviderLoss {
  peerId: string
  reason: string
  /** When it was lost, ms after the fetch started. */
  lostAtMs: number
  /** How long until it served this fetch again, ms; null if it did not within the rejoin window. */
  rejoinedAfterMs: number | null
  /** Redials tried. */
  attempts: number
}

export interface FetchResult {
  cid: string
  name: string
  /** Bytes of the files fetched (the selection's, with `paths`). */
  bytes: number
  /** Whether every chunk of the dataset is here now (false after a selection that left some out). */
  complete: boolean
  /** The files or folders asked for, when the fetch was a selection. */
  paths?: string[]
  /** Bytes actually transferred in this run (less than bytes when resumed). */
  fetchedBytes: number
  seconds: number
  resumedChunks: number
  providers: ProviderReport[]
  /** Providers lost during the fetch (rescheduling after a loss). */
  losses: ProviderLoss[]
  ranking: string
  /** The locality bias used (0: none). */
  localityBias: number
  /**
   * Share of locality decisions skipped because this node's event loop was saturated (its pings
   * then measure its own CPU, so the premiums are not trusted); 0 when the bias always applied.
   */
  localitySuspended: number
}
