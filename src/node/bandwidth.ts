/**
 * Bytes in and out since the daemon started, with a current rate, per peer and per dataset:
 * what `bwnode stats bw` shows. Fed from the same hooks as the Prometheus counters (verified
 * chunks fetched, chunks served, served chunks attributed to their dataset).
 */

/** Rates decay with this time constant (ms): 15 s after a transfer stops its rate reads 5% of what it was. */
export const DEFAULT_RATE_TIME_CONSTANT_MS = 5_000

/** Peers and datasets tracked each; the least recently active are forgotten past this. */
export const MAX_BANDWIDTH_ENTRIES = 1024

/** The history's resolution: bytes in and out are summed per slot of this many ms. */
export const DEFAULT_HISTORY_SLOT_MS = 10_000

/** Slots kept (360 × 10 s: the last hour). */
export const DEFAULT_HISTORY_SLOTS = 360

/**
 * A byte counter with an exponentially decaying rate: each add raises the rate by
 * bytes / tau, and the rate decays by e^(-dt / tau), so a steady R bytes/s reads R.
 * O(1) memory and no timers.
 */
class Meter {
  total = 0
  private lastRate = 0
  private at = 0

  add(bytes: number, now: number, tauMs: number): void {
    this.lastRate = this.rate(now, tauMs) + (bytes * 1000) / tauMs
    this.at = now
    this.total += bytes
  }

  /** Bytes per second at `now`. */
  rate(now: number, tauMs: number): number {
    return this.lastRate * Math.exp(-Math.max(0, now - this.at) / tauMs)
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

/** One slot of the history: mean rates over it (the newest slot: over its part so far). */
export interface BandwidthPoint {
  /** Start of the slot, ms since the epoch. */
  time: number
  /** Bytes per second. */
  rateIn: number
  rateOut: number
}

export interface BandwidthMeterInit {
  /** Wall clock, ms. */
  clock?: () => number
  rateTimeConstantMs?: number
  maxEntries?: number
  historySlotMs?: number
  historySlots?: number
}

/**
 * Bytes in and out per time slot, in a ring of fixed size: a slot is reused (zeroed) when its
 * turn comes again, so nothing runs between additions and memory stays fixed.
 */
class History {
  private readonly slotMs: number
  private readonly ring: Array<{ slot: number; in: number; out: number }>

  constructor(slotMs: number, slots: number) {
    this.slotMs = slotMs
    this.ring = Array.from({ length: slots }, () => ({ slot: -1, in: 0, out: 0 }))
  }

  add(now: number, bytesIn: number, bytesOut: number): void {
    const slot = Math.floor(now / this.slotMs)
    const entry = this.ring[slot % this.ring.length]!
    if (entry.slot !== slot) Object.assign(entry, { slot, in: 0, out: 0 })
    entry.in += bytesIn
    entry.out += bytesOut
  }

  /** Every slot from `since` (or as far back as the ring reaches) to `now`, oldest first. */
  points(since: number, now: number): BandwidthPoint[] {
    const last = Math.floor(now / this.slotMs)
    const first = Math.max(Math.floor(since / this.slotMs), last - this.ring.length + 1)
    const out: BandwidthPoint[] = []
    for (let slot = first; slot <= last; slot++) {
      const entry = this.ring[slot % this.ring.length]!
      const start = slot * this.slotMs
      // The current slot (and the one counting started in) only covers part of its length.
      const seconds = Math.max(1, Math.min(now, start + this.slotMs) - Math.max(start, since)) / 1000
      const held = entry.slot === slot
      out.push({
        time: start,
        rateIn: held ? round(entry.in / seconds) : 0,
        rateOut: held ? round(entry.out / seconds) : 0,
      })
    }
    return out
  }
}

export class BandwidthMeter {
  readonly since: number
  private readonly clock: () => number
  private readonly tauMs: number
  private readonly maxEntries: number
  private readonly all: Traffic = { in: new Meter(), out: new Meter() }
  private readonly peers = new Map<string, Traffic>()
  private readonly datasets = new Map<string, Traffic>()
  private readonly rateHistory: History

  constructor(init: BandwidthMeterInit = {}) {
    this.clock = init.clock ?? Date.now
    this.tauMs = init.rateTimeConstantMs ?? DEFAULT_RATE_TIME_CONSTANT_MS
    this.maxEntries = init.maxEntries ?? MAX_BANDWIDTH_ENTRIES
    this.rateHistory = new History(
      init.historySlotMs ?? DEFAULT_HISTORY_SLOT_MS,
      init.historySlots ?? DEFAULT_HISTORY_SLOTS,
    )
    this.since = this.clock()
  }

  /** Verified chunk bytes fetched from `peer`, for `dataset` when the fetch names it. */
  received(peer: string, dataset: string | undefined, bytes: number): void {
    const now = this.clock()
    this.all.in.add(bytes, now, this.tauMs)
    this.rateHistory.add(now, bytes, 0)
    this.entry(this.peers, peer).in.add(bytes, now, this.tauMs)
    if (dataset !== undefined) this.entry(this.datasets, dataset).in.add(bytes, now, this.tauMs)
  }

  /** Chunk bytes served to `peer`. */
  sent(peer: string, bytes: number): void {
    const now = this.clock()
    this.all.out.add(bytes, now, this.tauMs)
    this.rateHistory.add(now, 0, bytes)
    this.entry(this.peers, peer).out.add(bytes, now, this.tauMs)
  }

  /**
   * Served bytes once attributed to their dataset (the server sees only chunk CIDs; the
   * attribution runs behind it), so per-dataset figures may trail per-peer ones briefly.
   */
  sentFor(dataset: string, bytes: number): void {
    this.entry(this.datasets, dataset).out.add(bytes, this.clock(), this.tauMs)
  }

  report(): BandwidthReport {
    const now = this.clock()
    const figures = (t: Traffic): TrafficFigures => this.figures(t, now)
    const byBytes = (a: TrafficFigures, b: TrafficFigures): number =>
      b.totalIn + b.totalOut - (a.totalIn + a.totalOut)
    return {
      since: this.since,
      ...figures(this.all),
      peers: [...this.peers].map(([peerId, t]) => ({ peerId, ...figures(t) })).sort(byBytes),
      // Names are the store's; the node fills them in (see Bwnode.bandwidthReport).
      datasets: [...this.datasets].map(([cid, t]) => ({ cid, name: null, ...figures(t) })).sort(byBytes),
    }
  }

  /** Mean rates in and out per slot over the last hour (by default), oldest first. */
  history(): BandwidthPoint[] {
    return this.rateHistory.points(this.since, this.clock())
  }

  /** Bytes and rates in and out of the whole node. */
  totals(): TrafficFigures {
    return this.figures(this.all, this.clock())
  }

  /** One peer's figures, if it is still tracked. */
  peer(peerId: string): TrafficFigures | undefined {
    const traffic = this.peers.get(peerId)
    return traffic === undefined ? undefined : this.figures(traffic, this.clock())
  }

  private figures(t: Traffic, now: number): TrafficFigures {
    return {
      totalIn: t.in.total,
      totalOut: t.out.total,
      rateIn: round(t.in.rate(now, this.tauMs)),
      rateOut: round(t.out.rate(now, this.tauMs)),
    }
  }

  /** The entry for `key`, moved to the back (most recent); the oldest goes past the bound. */
  private entry(map: Map<string, Traffic>, key: string): Traffic {
    let entry = map.get(key)
    if (entry === undefined) {
      entry = { in: new Meter(), out: new Meter() }
      if (map.size >= this.maxEntries) {
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
