/**
 * Defaults the CLI states in its help text, kept apart from the schema so `--help` does not
 * load zod.
 */

/** offer.uplinkMbps: the uplink a node lends to peers, Mbit/s (`start --uplink` overrides it). */
export const DEFAULT_UPLINK_MBPS = 20

/** offer.pricePerGiB: what a node asks for the bytes it serves, credits per GiB. */
export const DEFAULT_PRICE_PER_GIB = 1
