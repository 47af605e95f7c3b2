/**
 * Defaults the CLI states in its help text, kept apart from the schema so `--help` does not
 * load zod.
 */

/** offer.uplinkMbps: the uplink a node lends to peers, Mbit/s (`start --uplink` overrides it). */
export const DEFAULT_UPLINK_MBPS = 20
