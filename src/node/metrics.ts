import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Read at scrape time, so the figures are the ledger's and survive restarts. */
export interface MetricSources {
  credits(): { earned: number; spent: number; balance: number }
  dht(): { routingTableSize: number; providedDatasets: number }
  /** Provider records this node stores for others as a DHT server. */
  providerRecords(): Promise<number>
  activeTransfers(): number
}

/**
 * The node's own Prometheus metrics, in a registry per node (several nodes can
 * share a process in labs and tests). Served at /metrics with libp2p's.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly bytesServed = new Counter({
    name: 'bwnode_bytes_served_total',
    help: 'Chunk bytes served to peers',
    labelNames: ['peer'],
    registers: [this.registry],
  })
  readonly bytesFetched = new Counter({
    name: 'bwnode_bytes_fetched_total',
    help: 'Verified chunk bytes fetched from peers',
    labelNames: ['peer'],
    registers: [this.registry],
  })
  readonly chunkLatency = new Histogram({
    name: 'bwnode_chunk_latency_seconds',
    help: 'Time from chunk request to verified chunk',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })

  readonly datasetBytesServed = new Counter({
    name: 'bwnode_dataset_bytes_served_total',
    help: 'Chunk bytes served to peers, per dataset CID',
    labelNames: ['dataset'],
    registers: [this.registry],
  })
  readonly rtt = new Histogram({
    name: 'bwnode_peer_rtt_seconds',
    help: 'Round-trip times measured by libp2p ping (periodic pinger and explicit pings)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1],
    registers: [this.registry],
  })
  readonly lastRtt = new Gauge({
    name: 'bwnode_peer_rtt_last_seconds',
    help: 'Latest round-trip time measured to each peer',
    labelNames: ['peer'],
    registers: [this.registry],
  })

  /** One measured round trip (ms, as libp2p ping reports it). */
  observeRtt(peer: string, rttMs: number): void {
    this.rtt.observe(rttMs / 1000)
    this.lastRtt.set({ peer }, rttMs / 1000)
  }

  /** Gauges computed from the node's state at every scrape. */
  bind(sources: MetricSources): void {
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read())
        },
      })
    }
    gauge('bwnode_credits_earned', 'Credits earned from accepted vouchers', () => sources.credits().earned)
    gauge('bwnode_credits_spent', 'Credits spent on signed vouchers', () => sources.credits().spent)
    gauge(
      'bwnode_credits_balance',
      'Credit balance (grant + earned - spent)',
      () => sources.credits().balance,
    )
    gauge(
      'bwnode_dht_routing_table_size',
      'Peers in the DHT routing table',
      () => sources.dht().routingTableSize,
    )
    gauge(
      'bwnode_provided_datasets',
      'Datasets this node advertises as a provider',
      () => sources.dht().providedDatasets,
    )
    new Gauge({
      name: 'bwnode_dht_provider_records',
      help: 'Provider records stored here for the DHT (this node as a DHT server)',
      registers: [this.registry],
      async collect() {
        this.set(await sources.providerRecords())
      },
    })
    gauge('bwnode_active_transfers', 'Fetches in progress', () => sources.activeTransfers())
  }
}
