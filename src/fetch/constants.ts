/** Fetcher defaults. Each names its unit. */

/** Requests in flight per provider before anything is measured. */
export const DEFAULT_INITIAL_WINDOW = 4
/**
 * Lower and upper bounds of the per-provider window (requests in flight).
 * The floor is not Little's law: on a sub-millisecond link the measured RTT
 * says 2-3 requests suffice, but a chunk passes through several stages (server
 * disk read, encrypt, send, decrypt, verify, store write) and each stage needs
 * a request of its own to stay busy; with 2-3 the profile showed ~20% idle.
 */
export const DEFAULT_MIN_WINDOW = 8
export const DEFAULT_MAX_WINDOW = 64
/** Providers pulled from at once. */
export const DEFAULT_MAX_PROVIDERS = 16
/** How long to keep looking for more providers after the first (ms). */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 15_000
/**
 * The first chunk requests of a fetch wait at most this long (after the first provider answered
 * HAVE) for the other providers found to answer, ms: they answer within a round trip or two of
 * each other, and a first answerer that filled its window at once would hold the whole fetch.
 */
export const DEFAULT_JOIN_GRACE_MS = 1_000
/** A chunk request slower than max(this, 4x the expected time) is abandoned and moved (ms). */
export const DEFAULT_MIN_CHUNK_TIMEOUT_MS = 10_000
/**
 * Verified chunks waiting for the store, bytes: past this no new request starts, so a slow disk
 * holds the fetch back instead of filling memory. Half of a full window (64 requests of 1 MiB).
 */
export const DEFAULT_MAX_STORE_BACKLOG_BYTES = 32 * 1024 * 1024
/** Bad chunks (hash mismatch) a provider may send before it is dropped. */
export const DEFAULT_MAX_BAD_CHUNKS = 2
/** Other failures (timeouts, stream errors) before a provider is dropped. */
export const DEFAULT_MAX_FAILURES = 4
/**
 * A provider gets a chunk only if it would deliver it no later than this factor
 * times the best provider's estimate: slow peers help at the margin, never hold the tail.
 */
export const DEFAULT_ASSIGN_SLACK = 1.5
/** Completions the throughput estimate looks back over. */
export const RATE_SAMPLE_WINDOW = 16
/**
 * Locality bias: a provider's share of the bytes is its measured rate divided by
 * 1 + bias x (its RTT - the nearest provider's RTT) / the nearest RTT. At 1, a
 * provider 37% further in round-trip time (1000 km vs 1 km behind residential
 * access) gets its rate's share divided by 1.37. 0 keeps every provider busy:
 * fastest, whatever the distance.
 */
export const DEFAULT_LOCALITY_BIAS = 1
/**
 * The most a locality bias may cost, as a share of the time the other providers save over the
 * fastest provider alone: at 0.5 a fetch from an origin (125 MB/s) and sixteen home peers
 * (48 MB/s together) keeps at most half of its 28% gain for locality, and never falls below the
 * origin alone.
 */
export const LOCALITY_MAX_COST = 0.5
/** Pings per provider at join; the lowest is its network round trip (locality bias). */
export const RTT_PROBES = 2
/** Pings per provider after the join ones, one every this many ms while the fetch runs. */
export const RTT_PROBE_INTERVAL_MS = 5_000
/** Event-loop utilisation above which this node counts as CPU-bound (locality bias suspended). */
export const SATURATED_ELU = 0.9
/** Event-loop utilisation is measured over windows of at least this many ms. */
export const CPU_SAMPLE_MS = 500
/**
 * Manifest hedging: the manifest is asked of one provider; if no verified answer came after
 * this many ms, the next provider is asked as well (and so on), the first verified answer wins
 * and the other requests are withdrawn. A silent provider record costs a fetch this, not a
 * whole response timeout.
 */
export const DEFAULT_MANIFEST_HEDGE_MS = 1_000
/** Manifest requests in flight at once (count); a new one waits for one to end past this. */
export const MAX_MANIFEST_ATTEMPTS_IN_FLIGHT = 8
/**
 * Connected peers (HAVE) are offered after the DHT walk ends, or this many ms after it started
 * if the walk has found no provider by then (an empty routing table waits out the whole
 * discovery timeout).
 */
export const DEFAULT_CONNECTED_PEERS_AFTER_MS = 1_000
/** Peers whose past failures a node remembers (count); the oldest is forgotten first. */
export const MAX_REMEMBERED_FAILURES = 1_024
/** A remembered failure counts half as much after this many ms (exponential decay). */
export const FAILURE_HALF_LIFE_MS = 10 * 60_000

/**
 * How long a fetch keeps trying to win back a provider whose session died (a home peer that
 * dropped off the network), ms. Its chunks go to the other providers meanwhile; when no other
 * provider holds them, the fetch waits this long before it fails.
 */
export const DEFAULT_REJOIN_WINDOW_MS = 30_000
/** First redial of a lost provider after this, ms; then doubling up to DEFAULT_REJOIN_MAX_WAIT_MS. */
export const DEFAULT_REJOIN_FIRST_WAIT_MS = 250
export const DEFAULT_REJOIN_MAX_WAIT_MS = 4_000
