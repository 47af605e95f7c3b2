import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { ERR } from '../errors/codes.ts'
import { packageVersion } from '../util/version.ts'

/** Read at scrape time, so the figures are the ledger's and survive restarts. */
export interface MetricSources {
  credits(): { earned: number; spent: number; balance: number }
  dht(): { routingTableSize: number; providedDatasets: number }
  /** Provider records this node stores for others as a DHT server. */
  providerRecords(): Promise<number>
  activeTransfers(): number
  /** Chunk bytes and chunks held, and the data dir's disk. */
  store(): Promise<{
    storedBytes: number
    storedChunks: number
    diskFreeBytes: number
    diskTotalBytes: number
  }>
}

/** Peers (and datasets) with a label value of their own in a metric; the rest share `other`. */
export const METRIC_LABEL_LIMIT = 20

/** The label value shared by the peers and datasets past METRIC_LABEL_LIMIT. */
export const OTHER_LABEL = 'other'

/**
 * Bounds a label's values: the first `limit` distinct values seen keep their own, every later
 * one is counted under `other`. Sticky, so each series of a counter only ever rises (a top-N
 * recomputed at each scrape would move bytes between series and read as counter resets).
 */
export class BoundedLabel {
  readonly limit: number
  private readonly kept = new Set<string>()

  constructor(limit = METRIC_LABEL_LIMIT) {
    this.limit = limit
  }

  of(value: string): string {
    if (this.kept.has(value)) return value
    if (this.kept.size >= this.limit) return OTHER_LABEL
    this.kept.add(value)
    return value
  }
}

/** A counter whose value is read from elsewhere at each scrape (a total that only rises). */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    },
  })
}

/**
 * The node's own Prometheus metrics, in a registry per node (several nodes can share a process in
 * labs and tests). Served at /metrics with libp2p's. Names follow Prometheus' conventions: the unit
 * last and plural (`_bytes`, `_seconds`, `_credits`), `_total` on counters. Label values are
 * bounded: at most METRIC_LABEL_LIMIT peers and datasets each, the rest under `other`.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  private readonly peers = new BoundedLabel()
  private readonly datasets = new BoundedLabel()
  /** Latest RTT (s) of the peers measured most recently, oldest first, at most METRIC_LABEL_LIMIT. */
  private readonly lastRtt = new Map<string, number>()
  private processMetrics = false

  readonly servedBytes = new Counter({
    name: 'bwnode_served_bytes_total',
    help: `Chunk bytes served to peers (the first ${METRIC_LABEL_LIMIT} peers seen by id, then "${OTHER_LABEL}")`,
    labelNames: ['peer'],
    registers: [this.registry],
  })
  readonly fetchedBytes = new Counter({
    name: 'bwnode_fetched_bytes_total',
    help: `Verified chunk bytes fetched from peers (the first ${METRIC_LABEL_LIMIT} peers seen by id, then "${OTHER_LABEL}")`,
    labelNames: ['peer'],
    registers: [this.registry],
  })
  readonly datasetServedBytes = new Counter({
    name: 'bwnode_dataset_served_bytes_total',
    help: `Chunk bytes served to peers, per dataset CID (the first ${METRIC_LABEL_LIMIT}, then "${OTHER_LABEL}")`,
    labelNames: ['dataset'],
    registers: [this.registry],
  })
  readonly chunkLatency = new Histogram({
    name: 'bwnode_chunk_latency_seconds',
    help: 'Time from chunk request to verified chunk',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })
  readonly rtt = new Histogram({
    name: 'bwnode_peer_rtt_seconds',
    help: 'Round-trip times measured by libp2p ping (periodic pinger and explicit pings)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1],
    registers: [this.registry],
  })
  readonly fetches = new Counter({
    name: 'bwnode_fetches_total',
    help: 'Fetches finished, by outcome (done, failed, cancelled)',
    labelNames: ['outcome'],
    registers: [this.registry],
  })
  readonly fetchFailures = new Counter({
    name: 'bwnode_fetch_failures_total',
    help: 'Fetches that failed, by error code',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly badChunks = new Counter({
    name: 'bwnode_bad_chunks_total',
    help: 'Chunks received whose bytes did not hash to their CID (discarded, fetched elsewhere)',
    registers: [this.registry],
  })
  readonly refusedPayments = new Counter({
    name: 'bwnode_refused_payments_total',
    help: 'Vouchers from peers this node refused, by reason code',
    labelNames: ['reason'],
    registers: [this.registry],
  })

  constructor() {
    const lastRtt = this.lastRtt
    new Gauge({
      name: 'bwnode_peer_rtt_last_seconds',
      help: `Latest round-trip time to each of the ${METRIC_LABEL_LIMIT} peers measured most recently`,
      labelNames: ['peer'],
      registers: [this.registry],
      collect() {
        this.reset()
        for (const [peer, seconds] of lastRtt) this.set({ peer }, seconds)
      },
    })
    new Gauge({
      name: 'bwnode_build_info',
      help: 'Always 1; the labels say which bwnode this is',
      labelNames: ['version'],
      registers: [this.registry],
    }).set({ version: packageVersion() }, 1)
  }

  /** Chunk bytes served to `peer` (the chunk server's onServed). */
  served(peer: string, bytes: number): void {
    this.servedBytes.inc({ peer: this.peers.of(peer) }, bytes)
  }

  /** Verified chunk bytes fetched from `peer`. */
  fetched(peer: string, bytes: number): void {
    this.fetchedBytes.inc({ peer: this.peers.of(peer) }, bytes)
  }

  /** Served bytes once attributed to their dataset. */
  servedFor(dataset: string, bytes: number): void {
    this.datasetServedBytes.inc({ dataset: this.datasets.of(dataset) }, bytes)
  }

  /** One measured round trip (ms, as libp2p ping reports it). */
  observeRtt(peer: string, rttMs: number): void {
    this.rtt.observe(rttMs / 1000)
    this.lastRtt.delete(peer)
    this.lastRtt.set(peer, rttMs / 1000)
    if (this.lastRtt.size > METRIC_LABEL_LIMIT) {
      const oldest = this.lastRtt.keys().next().value
      if (oldest !== undefined) this.lastRtt.delete(oldest)
    }
  }

  /** A fetch ended: `code` is its error's when it failed. */
  fetchEnded(outcome: 'done' | 'failed' | 'cancelled', code?: string): void {
    this.fetches.inc({ outcome })
    if (outcome === 'failed') this.fetchFailures.inc({ code: code ?? ERR.FETCH })
  }

  /**
   * prom-client's default collectors (process_cpu_seconds_total, process_resident_memory_bytes,
   * nodejs_eventloop_lag_seconds, GC, heap, ...) in this registry. They describe the process, so
   * the daemon (one node per process) turns them on; labs and experiments running many nodes in
   * one process leave them off (each set runs its own event-loop monitor). Once per registry.
   */
  collectProcessMetrics(): void {
    if (this.processMetrics) return
    this.processMetrics = true
    collectDefaultMetrics({ register: this.registry })
  }

  /** Gauges computed from the node's state at every scrape. */
  bind(sources: MetricSources): void {
    const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(await read())
        },
      })
    }
    readCounter(
      this.registry,
      'bwnode_earned_credits_total',
      'Credits earned from accepted vouchers (from the ledger: survives restarts)',
      () => sources.credits().earned,
    )
    readCounter(
      this.registry,
      'bwnode_spent_credits_total',
      'Credits spent on signed vouchers (from the ledger: survives restarts)',
      () => sources.credits().spent,
    )
    gauge(
      'bwnode_balance_credits',
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
    gauge(
      'bwnode_dht_provider_records',
      'Provider records stored here for the DHT (this node as a DHT server)',
      () => sources.providerRecords(),
    )
    gauge('bwnode_active_transfers', 'Fetches in progress', () => sources.activeTransfers())
    // usage() is counters and one statfs: cheap enough to read once per gauge.
    const store = async (key: keyof Awaited<ReturnType<MetricSources['store']>>) =>
      (await sources.store())[key]
    gauge('bwnode_store_bytes', 'Chunk bytes held in the store (each distinct chunk once)', () =>
      store('storedBytes'),
    )
    gauge('bwnode_store_chunks', 'Distinct chunks held in the store', () => store('storedChunks'))
    gauge('bwnode_disk_free_bytes', "Free bytes on the data dir's disk", () => store('diskFreeBytes'))
    gauge('bwnode_disk_size_bytes', "Size of the data dir's disk", () => store('diskTotalBytes'))
  }
}
