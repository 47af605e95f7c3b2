/** One-way propagation delay in optical fibre, microseconds per km (refractive index ~1.47). */
export const FIBRE_US_PER_KM = 4.9

/** Fibre path length over straight-line distance when a link does not say (1 = straight line). */
export const DEFAULT_ROUTE_INFLATION = 1

/** A rate of Infinity (Mbit/s) means the emulator does not pace that direction at all. */
export const UNLIMITED_MBPS = Number.POSITIVE_INFINITY

/** How long a raw connection may take to deliver the peer's link preamble, in ms. */
export const DEFAULT_PREAMBLE_TIMEOUT_MS = 5_000

/**
 * Extra queue on top of the bandwidth-delay product, in bytes: the emulated bottleneck buffer.
 * Small on purpose; a large one would add bufferbloat the experiment did not ask for.
 */
export const DEFAULT_QUEUE_BUFFER_BYTES = 64 * 1024

/**
 * Extra queue expressed as time at the link rate, in ms. Lets a sender that is woken by
 * 'drain' refill the queue before the emulated link runs dry, even with timer jitter.
 */
export const DEFAULT_QUEUE_BUFFER_MS = 5

/** Queue bound when the rate is unlimited (no bandwidth-delay product to size it by), in bytes. */
export const DEFAULT_UNLIMITED_QUEUE_BYTES = 8 * 1024 * 1024

/**
 * Pacing granularity, in ms of link time: a large write is split into pieces of about this
 * much serialisation time so the first bytes arrive before the last are serialised.
 */
export const DEFAULT_PACING_QUANTUM_MS = 1

/** Never split writes into pieces smaller than this, in bytes (about one Ethernet MTU). */
export const MIN_PACING_PIECE_BYTES = 1500

/** Releases due within this many ms are sent now (saves one more event-loop turn). */
export const DEFAULT_RELEASE_TOLERANCE_MS = 0.02

/**
 * The last part of a latency-sensitive wait, in ms, is polled with setImmediate rather than left
 * to a timer: Node timers have millisecond granularity, which would add up to 1 ms of error per
 * hop. Costs CPU only while such a release is less than this far away.
 */
export const DEFAULT_SPIN_MS = 1

/**
 * A link with more than this many ms of serialisation queued is carrying a backlog (bulk):
 * its releases are woken by plain timers instead of the precise (spinning) path.
 */
export const BACKLOG_MS = 2

/**
 * How far back, in ms, a sender unblocked by a late 'drain' may claim link slots (the instant
 * room actually opened). Keeps a starved event loop from costing link capacity, bounded so a
 * sender that dawdles after 'drain' gets no large burst.
 */
export const MAX_CATCH_UP_MS = 20

/**
 * Token bucket depth, in ms of link time an idle link may bank. 0 by default: a burst would let a
 * request after an idle spell skip part of its serialisation time, flattering small transfers.
 */
export const DEFAULT_BURST_MS = 0
