/** Defaults of `bwnode lab`. Units are in the names. */

/** How long one daemon may take from spawn to its "bwnode ready" line (a 2-core box starting 7 at once). */
export const DEFAULT_READY_TIMEOUT_MS = 60_000

/** After SIGTERM, how long a daemon gets to close its stores before SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000

/** Live table refresh period. */
export const DEFAULT_REFRESH_MS = 1_000

/**
 * Seed recipe the lab shares (seeds/recipes.json) and its scale: 4 shards x 16 MiB = 64 MiB, 64
 * chunks. Sized so that every provider carries a share: a home uplink (20-27 Mbit/s) takes about
 * 0.4 s per 1 MiB chunk, and at 16 MiB the origin alone (1 Gbit/s) finished sooner than a home
 * peer could add one chunk, so the scheduler rightly left the peers out.
 */
export const DEFAULT_SEED_NAME = 'shards'
export const DEFAULT_SEED_SCALE = 1 / 8

/** How long the lab waits for the DHT to form, for provider records, and for one fetch. */
export const DEFAULT_DHT_TIMEOUT_MS = 30_000
export const DEFAULT_PROVIDE_TIMEOUT_MS = 30_000
export const DEFAULT_FETCH_TIMEOUT_MS = 90_000

/** Config files the lab starts: node-configs/lab-*.json. */
export const LAB_CONFIG_PATTERN = /^lab-.+\.json$/
