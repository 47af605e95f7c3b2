/**
 * Ledger constants. Every credit amount in the ledger is an integer count of
 * micro-credits (µcr): 1 credit = 1,000,000 µcr. Integers keep sums exact and
 * make balances reproducible from the stored vouchers; a real token would swap
 * µcr for its own smallest unit.
 */
export const MICROCREDITS_PER_CREDIT = 1_000_000

/** Prices are quoted per GiB; credits for n bytes = ceil(n × pricePerGiB / 2^30). */
export const BYTES_PER_GIB = 2 ** 30

/** Simulated deposit every node starts with, in micro-credits (1,000 credits = 1,000 GiB at the default price). */
export const DEFAULT_GRANT_CREDITS = 1_000 * MICROCREDITS_PER_CREDIT

/** Default price a server asks, in micro-credits per GiB (1 credit per GiB). */
export const DEFAULT_PRICE_PER_GIB = MICROCREDITS_PER_CREDIT

/**
 * Unpaid bytes (served minus covered by vouchers) a server tolerates before it
 * refuses to serve a peer with ERR_PAYMENT_REQUIRED. Vouchers arrive after the
 * bytes they pay for, so this must exceed requests-in-flight × chunk size or a
 * paying client stalls: 64 MiB covers 64 in flight at 1 MiB.
 */
export const DEFAULT_PAYMENT_THRESHOLD_BYTES = 64 * 2 ** 20

/**
 * Unpaid bytes plus bytes asked for while refused (since the peer's last
 * accepted voucher) past which the server tells the caller to disconnect
 * (ERR_PAYMENT_DISCONNECT). Must be greater than the payment threshold.
 */
export const DEFAULT_DISCONNECT_THRESHOLD_BYTES = 256 * 2 ** 20

/** Ledger events (earn, spend, reject) kept for history(); older ones are deleted as new ones arrive. */
export const DEFAULT_HISTORY_RETAIN_EVENTS = 10_000

/** Events history() returns when no limit is given. */
export const DEFAULT_HISTORY_LIMIT = 100

/** Domain separator prepended to the voucher body before signing, so a voucher signature can never be a valid signature of anything else. */
export const VOUCHER_DOMAIN = 'bwnode-voucher-v1\0'

/** First byte of an encoded voucher. */
export const VOUCHER_VERSION = 1

/** Random channel id length in bytes (32 hex characters). */
export const CHANNEL_ID_BYTES = 16

/** Largest peer id (multihash bytes) a voucher may carry; Ed25519 ids are 38 bytes. */
export const MAX_PEER_ID_BYTES = 64

/** Largest signature a voucher may carry; Ed25519 signatures are 64 bytes. */
export const MAX_SIGNATURE_BYTES = 128

/**
 * Upper bound on an encoded voucher in bytes:
 * version(1) + 2 × (len(1) + peer id(≤64)) + channel(16) + 5 × u64(8) + sig len(1) + sig(≤128) = 316.
 * An Ed25519 voucher is 200 bytes. Anything longer is refused before parsing.
 */
export const MAX_VOUCHER_BYTES =
  1 + 2 * (1 + MAX_PEER_ID_BYTES) + CHANNEL_ID_BYTES + 5 * 8 + 1 + MAX_SIGNATURE_BYTES
