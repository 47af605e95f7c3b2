import type { Database } from '../db/database.ts'

/** kad-dht keeps provider records under `<datastorePrefix>/provider/<multihash>/<peer>`. */
const PROVIDER_PREFIX = '/dht/provider/'
/** Past this many the count stops (it is read at every /metrics scrape). */
const MAX_COUNTED = 1_000_000

/**
 * Provider records this node stores for the DHT, counted from the libp2p
 * datastore (the `libp2p` sublevel Bwnode gives datastore-level).
 */
export async function countProviderRecords(db: Database): Promise<number> {
  const store = db.sublevel<string, Uint8Array>('libp2p', { valueEncoding: 'view' })
  let count = 0
  // '0' is the character after '/', so this range is exactly the prefix.
  for await (const _key of store.keys({ gte: PROVIDER_PREFIX, lt: '/dht/provider0', limit: MAX_COUNTED })) {
    count++
  }
  return count
}
