/**
 * Bandwidth offers: signed DHT records under `/bwoffer/<peer id multihash>`.
 * Every name carries its unit.
 */

/** DHT key namespace; kad-dht picks the validator and selector by it. */
export const OFFER_NAMESPACE = 'bwoffer'

/** Domain separation for signatures: an offer signature can never be mistaken for any other signed bwnode message. */
export const OFFER_SIGNATURE_DOMAIN = 'bwnode-offer-v1\0'

/** First bytes of an encoded offer (format version 1). */
export const OFFER_MAGIC = 'BWO1'

/** Hard cap on an encoded offer (bytes): larger records are rejected before parsing. */
export const MAX_OFFER_BYTES = 4096

/** Most multiaddrs an offer may list. */
export const MAX_OFFER_ADDRS = 16

/** Longest multiaddr string accepted in an offer (characters). */
export const MAX_OFFER_ADDR_LENGTH = 256

/** Largest signature accepted (bytes): Ed25519 is 64, secp256k1 DER up to 72. */
export const MAX_OFFER_SIGNATURE_BYTES = 128

/** Longest lifetime an offer may claim (ms; 24 hours): bounds how long an old offer can be replayed. */
export const MAX_OFFER_LIFETIME_MS = 24 * 60 * 60 * 1000

/** How far in the future issuedAt may be, to tolerate clock skew (ms; 10 minutes). */
export const MAX_OFFER_CLOCK_SKEW_MS = 10 * 60 * 1000

/** Largest maxConcurrent an offer may state (peers served at once). */
export const MAX_OFFER_CONCURRENCY = 4096

/** Seed of the well-known CID every offering node provides (sha2-256 of it, raw codec). */
export const OFFERS_CID_SEED = 'bwnode-offers-v1'

/** Lifetime of a published offer (ms; 1 hour). */
export const DEFAULT_OFFER_TTL_MS = 60 * 60 * 1000

/** Republish this long before the current offer expires (ms; 10 minutes). */
export const DEFAULT_OFFER_REPUBLISH_MARGIN_MS = 10 * 60 * 1000

/** After a failed publish, try again after this (ms; 30 seconds). */
export const DEFAULT_OFFER_RETRY_MS = 30 * 1000

/** Offers fetched from the DHT in parallel during discovery. */
export const DEFAULT_OFFER_DISCOVER_CONCURRENCY = 8
