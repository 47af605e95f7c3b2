/** How often per-dataset served totals are written to LevelDB (ms); they are also written on stop. */
export const DEFAULT_SERVED_FLUSH_INTERVAL_MS = 5_000
/** A served chunk found in no manifest triggers at most one index rebuild per this many ms. */
export const DEFAULT_SERVED_REINDEX_INTERVAL_MS = 1_000
/** Dashboard: offers are re-discovered on the DHT at most this often while the page polls (ms). */
export const DEFAULT_DASHBOARD_OFFER_REFRESH_MS = 30_000
/** Dashboard: ledger events read to draw the credit balance over time. */
export const DEFAULT_DASHBOARD_HISTORY_EVENTS = 500
