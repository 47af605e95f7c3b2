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
