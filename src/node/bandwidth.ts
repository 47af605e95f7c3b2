/**
 * Bytes in and out since the daemon started, with a current rate, per peer and per dataset:
 * what `bwnode stats bw` shows. Fed from the same hooks as the Prometheus counters (verified
 * chunks fetched, chunks served, served chunks attributed to their dataset).
 */

/** Rates decay with this time constant (ms): 15 s after a transfer stops its rate reads 5% of what it was. */
export const DEFAULT_RATE_TIME_CONSTANT_MS = 5_000

/** Peers and datasets tracked each; the least recently active are forgotten past this. */
export const MAX_BANDWIDTH_ENTRIES = 1024

/**
 * A byte counter with an exponentially decaying rate: each add raises the rate by
 * bytes / tau, and the rate decays by e^(-dt / tau), so a steady R bytes/s reads R.
 * O(1) memory and no timers.
 */
class Meter {
  total = 0
  #rate = 0
  #at = 0

  add(bytes: number, now: number, tauMs: number): void {
    this.#rate = this.rate(now, tauMs) + (bytes * 1000) / tauMs
    this.#at = now
    this.total += bytes
  }

  /** Bytes per second at `now`. */
  rate(now: number, tauMs: number): number {
    return this.#rate * Math.exp(-Math.max(0, now - this.#at) / tauMs)
  }
}

interface Traffic {
  in: Meter
  out: Meter
}

export interface TrafficFigures {
  /** Bytes. */
  totalIn: number
  totalOut: number
  /** Bytes per second, decaying average. */
  rateIn: number
  rateOut: number
}

export interface BandwidthReport extends TrafficFigures {
  /** When counting started (the daemon's start), ms since the epoch. */
  since: number
  /** Most bytes first. */
  peers: Array<TrafficFigures & { peerId: string }>
  datasets: Array<TrafficFigures & { cid: string; name: string | null }>
}

export interface BandwidthMeterInit {
  /** Wall clock, ms. */
  clock?: () => number
  rateTimeConstantMs?: number
  maxEntries?: number
}

export class BandwidthMeter {
  readonly since: number
  readonly #clock: () => number
  readonly #tauMs: number
  readonly #maxEntries: number
  readonly #all: Traffic = { in: new Meter(), out: new Meter() }
  readonly #peers = new Map<string, Traffic>()
  readonly #datasets = new Map<string, Traffic>()

  constructor(init: BandwidthMeterInit = {}) {
    this.#clock = init.clock ?? Date.now
    this.#tauMs = init.rateTimeConstantMs ?? DEFAULT_RATE_TIME_CONSTANT_MS
    this.#maxEntries = init.maxEntries ?? MAX_BANDWIDTH_ENTRIES
    this.since = this.#clock()
  }

  /** Verified chunk bytes fetched from `peer`, for `dataset` when the fetch names it. */
  received(peer: string, dataset: string | undefined, bytes: number): void {
    const now = this.#clock()
    this.#all.in.add(bytes, now, this.#tauMs)
    this.#entry(this.#peers, peer).in.add(bytes, now, this.#tauMs)
    if (dataset !== undefined) this.#entry(this.#datasets, dataset).in.add(bytes, now, this.#tauMs)
  }

  /** Chunk bytes served to `peer`. */
  sent(peer: string, bytes: number): void {
    const now = this.#clock()
    this.#all.out.add(bytes, now, this.#tauMs)
    this.#entry(this.#peers, peer).out.add(bytes, now, this.#tauMs)
  }

  /**
   * Served bytes once attributed to their dataset (the server sees only chunk CIDs; the
   * attribution runs behind it), so per-dataset figures may trail per-peer ones briefly.
   */
  sentFor(dataset: string, bytes: number): void {
    this.#entry(this.#datasets, dataset).out.add(bytes, this.#clock(), this.#tauMs)
  }

  report(): BandwidthReport {
    const now = this.#clock()
    const figures = (t: Traffic): TrafficFigures => ({
      totalIn: t.in.total,
      totalOut: t.out.total,
      rateIn: round(t.in.rate(now, this.#tauMs)),
      rateOut: round(t.out.rate(now, this.#tauMs)),
    })
    const byBytes = (a: TrafficFigures, b: TrafficFigures): number =>
      b.totalIn + b.totalOut - (a.totalIn + a.totalOut)
    return {
      since: this.since,
      ...figures(this.#all),
      peers: [...this.#peers].map(([peerId, t]) => ({ peerId, ...figures(t) })).sort(byBytes),
      // Names are the store's; the node fills them in (see Bwnode.bandwidthReport).
      datasets: [...this.#datasets].map(([cid, t]) => ({ cid, name: null, ...figures(t) })).sort(byBytes),
    }
  }

  /** The entry for `key`, moved to the back (most recent); the oldest goes past the bound. */
  #entry(map: Map<string, Traffic>, key: string): Traffic {
    let entry = map.get(key)
    if (entry === undefined) {
      entry = { in: new Meter(), out: new Meter() }
      if (map.size >= this.#maxEntries) {
        const oldest = map.keys().next().value
        if (oldest !== undefined) map.delete(oldest)
      }
    } else {
      map.delete(key)
    }
    map.set(key, entry)
    return entry
  }
}

/** Bytes per second to 0.1: the decay leaves long tails of digits that say nothing. */
function round(rate: number): number {
  return rate < 0.05 ? 0 : Math.round(rate * 10) / 10
}
