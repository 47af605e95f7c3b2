import type { PeerId } from '@libp2p/interface'
import type { ProviderHint } from '../fetch/types.ts'
import type { LatencyRecorder, PingableNode } from '../latency/recorder.ts'
import { estimateRtt } from '../latency/vivaldi.ts'
import type { OfferBook } from '../protocols/offer/book.ts'
import type { NodeMetrics } from './metrics.ts'
import { offeredBytesPerSec } from './peer-detail.ts'

/** What this node knows of its distance to peers: the latency recorder and the offers' coordinates. */
export class PeerLatency {
  private readonly latency: LatencyRecorder
  private readonly offers: OfferBook

  constructor(latency: LatencyRecorder, offers: OfferBook) {
    this.latency = latency
    this.offers = offers
  }

  /** The Vivaldi estimate of the RTT to a peer whose offer gave its coordinate, ms. */
  estimatedRtt(peer: PeerId | string): number | undefined {
    const theirs = this.offers.coordinateOf(peer)
    return theirs === undefined ? undefined : estimateRtt(this.latency.coordinate, theirs)
  }

  /** What is known about a provider before fetching from it: measured RTT, else Vivaldi's estimate. */
  async providerHint(peer: PeerId): Promise<ProviderHint> {
    const summary = await this.latency.summary(peer).catch(() => undefined)
    // An unknown provider's offer (its uplink and coordinate) is one DHT get away; worth a
    // second at most, since the scheduler's first assignments are made from it.
    const offer =
      this.offers.get(peer) ??
      (await this.offers.fetch(peer, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))
    const measuredRtt = summary !== undefined && summary.rttMs.samples > 0 ? summary.rttMs.p50 : undefined
    const estimatedRtt = this.estimatedRtt(peer)
    const offered = offeredBytesPerSec(offer)
    return {
      ...(measuredRtt !== undefined
        ? { rttMs: Math.max(measuredRtt, 0.1), rttSource: 'measured' as const }
        : estimatedRtt !== undefined
          ? { rttMs: estimatedRtt, rttSource: 'estimated' as const }
          : { rttSource: 'unknown' as const }),
      ...(offered === undefined ? {} : { offeredBytesPerSec: offered }),
      ...(summary?.throughputMBps == null ? {} : { measuredBytesPerSec: summary.throughputMBps * 1e6 }),
    }
  }
}

/** libp2p as the latency recorder's pinger sees it, with every RTT also going to the metrics. */
export function meteredPings(libp2p: PingableNode, metrics: NodeMetrics): PingableNode {
  return {
    getConnections: () => libp2p.getConnections(),
    services: {
      ping: {
        async ping(peer: PeerId, options?: { signal?: AbortSignal }): Promise<number> {
          const rttMs = await libp2p.services.ping.ping(peer, options)
          metrics.observeRtt(peer.toString(), rttMs)
          return rttMs
        },
      },
    },
  }
}

/** Pings in a row a peer may miss (each DEFAULT_PING_TIMEOUT_MS) before its connections close. */
export const PINGS_BEFORE_DROP = 2

/** The part of libp2p a heartbeat closes connections through. */
interface ConnectionCloser {
  getConnections(peer?: PeerId): Array<{ abort(err: Error): void }>
}

/**
 * The pinger as the node's heartbeat (libp2p's own connection monitor is off, see libp2p.ts):
 * a peer silent for PINGS_BEFORE_DROP pings has its connections aborted, so a vanished host's
 * connections do not linger until TCP gives up. One missed ping is forgiven, where libp2p's
 * monitor aborted on the first: a busy machine's ping can be late without the peer being gone.
 */
export function dropWhenSilent(libp2p: ConnectionCloser): (peer: PeerId, consecutive: number) => void {
  return (peer, consecutive) => {
    if (consecutive < PINGS_BEFORE_DROP) return
    const reason = new Error(`peer missed ${consecutive} pings in a row`)
    for (const connection of libp2p.getConnections(peer)) connection.abort(reason)
  }
}
