/** Protocol id negotiated by multistream-select. Bump the version on any wire change. */
export const CHUNK_PROTOCOL = '/bwnode/chunk/1.0.0'

const KiB = 1024
const MiB = 1024 * KiB

/** Largest chunk payload the protocol carries, in bytes (the store's chunk size cap). */
export const MAX_CHUNK_BYTES = 4 * MiB

/**
 * Room for a response header (type byte, request id varint, small fixed fields), in bytes.
 * A frame body is never larger than MAX_CHUNK_BYTES + FRAME_HEADER_ALLOWANCE_BYTES.
 */
export const FRAME_HEADER_ALLOWANCE_BYTES = 1 * KiB

/** Largest frame body (after the length prefix) a client accepts, in bytes. */
export const MAX_FRAME_BYTES = MAX_CHUNK_BYTES + FRAME_HEADER_ALLOWANCE_BYTES

/**
 * Largest muxer data frame a chunk stream sends, bytes (see muxer-frames.ts): yamux's initial
 * stream window, the largest frame a stream sends before its window grows.
 */
export const MUXER_FRAME_BYTES = 256 * KiB

/** Largest request frame body a server accepts, in bytes (a CID or a voucher plus header). */
export const DEFAULT_MAX_REQUEST_FRAME_BYTES = 16 * KiB

/** Longest error code string on the wire, in bytes (ASCII). */
export const MAX_ERROR_CODE_BYTES = 64

/** Longest error message on the wire, in bytes (UTF-8); longer messages are cut. */
export const MAX_ERROR_MESSAGE_BYTES = 1 * KiB

/** Requests a server holds per stream (queued + being served) before it stops reading, count. */
export const DEFAULT_MAX_QUEUED_REQUESTS = 128

/** Responses a server prepares ahead of the one it is writing (store reads overlap writes), count. */
export const DEFAULT_SERVE_PREFETCH = 2

/** Once the first byte of a frame has arrived, the rest must arrive within this many ms. */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 10_000

/** A server stream with no request in progress and none arriving for this many ms is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000

/** A peer that does not read (no drain) for this many ms while we wait to write is aborted. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000

/** Concurrent inbound chunk streams allowed per connection, count (libp2p handle() option). */
export const DEFAULT_MAX_INBOUND_STREAMS = 16

/** Concurrent outbound chunk streams allowed per connection, count (libp2p handle() option). */
export const DEFAULT_MAX_OUTBOUND_STREAMS = 16

/** Requests a ChunkSession keeps on the wire at once; more wait locally, count. */
export const DEFAULT_MAX_IN_FLIGHT = 64

/** Time allowed to open a stream and negotiate the protocol, in ms. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000

/** Bytes a server buffers beyond the request it is decoding before it pauses the stream. */
export const DEFAULT_READ_HIGH_WATER_BYTES = 256 * KiB

/**
 * Bytes a client buffers beyond the response it is decoding before it pauses the stream: one
 * more full frame, so pausing never throttles a reader that keeps up (each pause delays a yamux
 * window update).
 */
export const DEFAULT_CLIENT_READ_HIGH_WATER_BYTES = MAX_FRAME_BYTES

/** Protocol violations a peer may commit before shouldDrop() says to refuse it, count. */
export const DEFAULT_PEER_SCORE_DROP_THRESHOLD = 5

/** Violations older than this many ms are forgotten by PeerScore. */
export const DEFAULT_PEER_SCORE_WINDOW_MS = 10 * 60_000

/** Peers PeerScore remembers at most (oldest forgotten first), count. */
export const DEFAULT_PEER_SCORE_MAX_PEERS = 10_000

/** With client requests outstanding, some response must arrive within this many ms. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000
