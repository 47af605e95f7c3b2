import { ERR } from '../../errors/codes.ts'

/**
 * Error codes of the chunk protocol, a view on the one registry (src/errors/codes.ts) that says
 * what each means here. Codes in ERROR frames are sent as ASCII strings so a client maps them
 * straight onto BwnodeError.code; a code the client does not know is kept as is.
 */
export const ChunkErrorCode = {
  /** The server does not hold the chunk, manifest or have-map. */
  NOT_FOUND: ERR.NOT_FOUND,
  /** The server is at its concurrency limit (stream-level, request id 0). */
  BUSY: ERR.BUSY,
  /** The server wants payment before it serves more; the stream stays usable. */
  PAYMENT_REQUIRED: ERR.PAYMENT_REQUIRED,
  /** The peer's debt passed the hard limit: the server answers this and closes the stream. */
  PAYMENT_DISCONNECT: ERR.PAYMENT_DISCONNECT,
  /** A request frame that does not parse (bad type, bad CID, trailing bytes). */
  BAD_REQUEST: ERR.BAD_REQUEST,
  /** The voucher was rejected by the server's ledger. */
  BAD_VOUCHER: ERR.BAD_VOUCHER,
  /** The peer has misbehaved too often and is refused (stream-level, request id 0). */
  PEER_DROPPED: ERR.PEER_DROPPED,
  /** The item is larger than a frame can carry. */
  TOO_LARGE: ERR.TOO_LARGE,
  /**
   * The node is not lending now: outside its serving schedule, or a daily or monthly byte cap is
   * used up (or this item would pass it). The message says which and when it opens again; the
   * stream stays usable.
   */
  LENDING_CLOSED: ERR.LENDING_CLOSED,
  /** The client withdrew the request (CANCEL) before the server started sending it. */
  CANCELLED: ERR.CANCELLED,
  /** The server failed for its own reasons (store error); nothing the client did wrong. */
  INTERNAL: ERR.INTERNAL,
  // Local codes: never sent on the wire, raised by the client or the framing layer.
  /** Chunk bytes do not hash to the requested CID. */
  CHUNK_HASH_MISMATCH: ERR.CHUNK_HASH_MISMATCH,
  /** The CID uses a hash function this node cannot verify. */
  UNSUPPORTED_HASH: ERR.UNSUPPORTED_HASH,
  /** A frame length prefix larger than the allowed maximum. */
  FRAME_TOO_LARGE: ERR.FRAME_TOO_LARGE,
  /** A frame that is not valid for its type, or a response to no request. */
  BAD_FRAME: ERR.BAD_FRAME,
  /** The stream ended in the middle of a frame. */
  UNEXPECTED_EOF: ERR.UNEXPECTED_EOF,
  /** A frame started but did not complete within the message timeout. */
  READ_TIMEOUT: ERR.READ_TIMEOUT,
  /** Nothing happened on the stream for the idle timeout. */
  IDLE_TIMEOUT: ERR.IDLE_TIMEOUT,
  /** The peer stopped reading: a write did not drain within the drain timeout. */
  DRAIN_TIMEOUT: ERR.DRAIN_TIMEOUT,
  /** The stream closed or was reset while requests were outstanding. */
  STREAM_CLOSED: ERR.STREAM_CLOSED,
  /** The caller aborted the request. */
  ABORTED: ERR.ABORTED,
} as const

export type ChunkErrorCodeValue = (typeof ChunkErrorCode)[keyof typeof ChunkErrorCode]
