import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * Where a server gets the bytes it serves. The store implements it; tests use a Map.
 * Every method answers `undefined` for "not held here" and throws only on a real fault.
 */
export interface ChunkSource {
  getChunk(cid: CID): Promise<Uint8Array | undefined>
  getManifestBytes(datasetCid: CID): Promise<Uint8Array | undefined>
  /** Bitfield of the dataset's chunks held here, bit i = chunk i, most significant bit first. */
  haveMap(datasetCid: CID): Promise<Uint8Array | undefined>
}

/** Gives back an admission slot taken by ServePolicy.admit. */
export type ReleaseFn = () => void

/**
 * Hooks a server consults while serving. All optional: with none, a server serves everyone at
 * full speed for free. Hooks may throw a BwnodeError; its code goes to the peer in an ERROR frame.
 */
export interface ServePolicy {
  /**
   * Called once per inbound stream. Return a release function to admit the stream (called when
   * the stream ends), or undefined to refuse it with ERR_BUSY (a concurrency semaphore).
   */
  admit?(peerId: PeerId): ReleaseFn | undefined
  /**
   * Called before each HAVE is answered. Throw a BwnodeError to refuse it; the node throws
   * ERR_LENDING_CLOSED while it is not lending (outside its schedule, a byte cap used up), so a
   * client does not take it for a provider only to be refused every chunk.
   */
  beforeHave?(peerId: PeerId): void | Promise<void>
  /**
   * Called before each chunk or manifest is sent with its size. Throw a BwnodeError with
   * ERR_PAYMENT_REQUIRED (or ERR_LENDING_CLOSED) to refuse this request, or ERR_PAYMENT_DISCONNECT
   * to refuse it, end the stream and then call `disconnect`.
   */
  beforeServe?(peerId: PeerId, bytes: number): void | Promise<void>
  /**
   * Called after an ERR_PAYMENT_DISCONNECT answer was handed to the transport and the stream's
   * writable end closed (or the stream failed trying), so the peer can read why it was cut off
   * before the connection goes. The node closes its connections to the peer here; the server
   * itself only owns the stream. Should settle promptly: the stream's admission slot is held
   * until it does. Failures are logged.
   */
  disconnect?(peerId: PeerId): void | Promise<void>
  /** Waits until `bytes` may be sent (token-bucket uplink cap). Must give up when `signal` aborts. */
  pace?(bytes: number, signal: AbortSignal): Promise<void>
  /** Credits a voucher the peer sent on the stream. Throws on a bad voucher (ERR_BAD_VOUCHER). */
  onVoucher?(peerId: PeerId, voucher: Uint8Array): void | Promise<void>
  /** Called after a chunk was handed to the transport (metrics). */
  onServed?(peerId: PeerId, cid: CID, bytes: number): void
  /** Price per GiB served, in credits; sent to peers in HAVE_REPLY. */
  price?(): number
}

/** Timing of one chunk as seen by the client. */
export interface ChunkTiming {
  /** From writing the request to the first byte of its response frame, in ms. */
  ttfbMs: number
  /** From writing the request to the verified chunk, in ms. */
  totalMs: number
}

/** Hooks a client consults. All optional. */
export interface ClientHooks {
  /** Called for each verified chunk (latency recorder, ledger). */
  onChunk?(peerId: PeerId, cid: CID, bytes: Uint8Array, timing: ChunkTiming): void
  /**
   * Called after each verified chunk with its size; a returned voucher is sent to the server on
   * the same stream (pay as you go). Return undefined to send nothing.
   */
  makeVoucher?(peerId: PeerId, bytes: number): Uint8Array | undefined | Promise<Uint8Array | undefined>
}

/** What a peer answered to HAVE. */
export interface HaveReply {
  /** Bitfield of held chunks, bit i = chunk i, most significant bit first. */
  bitfield: Uint8Array
  /** The server's price per GiB, in credits. */
  pricePerGiB: number
}

/** A clock the protocol can be driven by in tests. */
export interface Clock {
  now(): number
}
