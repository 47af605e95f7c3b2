import type { Database } from '../db/database.ts'
import { DHT_DATASTORE_PREFIX } from './libp2p.ts'

/**
 * kad-dht keeps provider records under `<datastorePrefix>/provider/<multihash>/<peer>` (its
 * layout, not an exported API: tests/integration/metrics.test.ts sees the count rise on a provide).
 */
const PROVIDER_PREFIX = `${DHT_DATASTORE_PREFIX}/provider/`
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
  const end = `${PROVIDER_PREFIX.slice(0, -1)}0`
  for await (const _key of store.keys({ gte: PROVIDER_PREFIX, lt: end, limit: MAX_COUNTED })) {
    count++
  }
  return count
}
