import type { Connection, PeerId } from '@libp2p/interface'
import type { PeerDetail } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import type { LatencyRecorder, PeerLatencySummary } from '../latency/recorder.ts'
import { MICROCREDITS_PER_CREDIT } from '../ledger/constants.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { OfferBook } from '../protocols/offer/book.ts'
import type { BandwidthOffer } from '../protocols/offer/record.ts'
import type { BandwidthMeter } from './bandwidth.ts'
import type { BwnodeLibp2p } from './libp2p.ts'

/** RTT samples a peer's detail shows, the newest. */
export const PEER_RTT_HISTORY = 120

/** A peer's RTT percentiles as the API shows them; null before any RTT was measured. */
export function rttWindow(summary: PeerLatencySummary | undefined): PeerDetail['rttMs'] {
  if (summary === undefined || summary.rttMs.samples === 0) return null
  const { p50, p90, p99, samples } = summary.rttMs
  return { p50, p90, p99, samples }
}

/** An offer's uplink in bytes/s; undefined without an offer or with an uncapped one. */
export function offeredBytesPerSec(offer: BandwidthOffer | undefined): number | undefined {
  return offer !== undefined && offer.uplinkMbps > 0 ? (offer.uplinkMbps * 1e6) / 8 : undefined
}

export interface PeerDetailSources {
  libp2p: BwnodeLibp2p
  latency: LatencyRecorder
  bandwidth: BandwidthMeter
  ledger: Ledger
  offers: OfferBook
  estimatedRtt(peer: PeerId): number | undefined
}

/**
 * Everything this node knows of one peer, for the dashboard's peer view: its addresses and open
 * connections, RTTs, bytes each way, credits, the offer it published and what it delivered.
 * A peer this node has neither in its peer store nor connected is ERR_NOT_FOUND.
 */
export async function describePeer(sources: PeerDetailSources, peer: PeerId): Promise<PeerDetail> {
  const id = peer.toString()
  const { libp2p } = sources
  const stored = await libp2p.peerStore.get(peer).catch(() => undefined)
  const connections = libp2p.getConnections(peer)
  if (stored === undefined && connections.length === 0) {
    throw new BwnodeError(ERR.NOT_FOUND, `peer ${id} is not known to this node`)
  }
  const [summary, rtts] = await Promise.all([
    sources.latency.summary(peer).catch(() => undefined),
    sources.latency.recent(peer, 'rtt', PEER_RTT_HISTORY).catch(() => []),
  ])
  const account = sources.ledger.summary().peers.find((p) => p.peerId === id)
  const offer = sources.offers.get(peer)
  const estimate = sources.estimatedRtt(peer)
  const credits = (micro: number): number => micro / MICROCREDITS_PER_CREDIT
  return {
    peerId: id,
    connected: connections.length > 0,
    addrs: (stored?.addresses ?? []).map((a) => a.multiaddr.toString()),
    connections: connections.map((c) => ({
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction,
      relayed: isRelayed(c),
      openedAt: c.timeline.open,
    })),
    rttMs: rttWindow(summary),
    rttHistory: rtts.map((s) => ({ time: s.time, rttMs: s.value })),
    estimatedRttMs: estimate === undefined ? null : Number(estimate.toFixed(3)),
    traffic: sources.bandwidth.peer(id) ?? { totalIn: 0, totalOut: 0, rateIn: 0, rateOut: 0 },
    credits: {
      earned: credits(account?.earned ?? 0),
      spent: credits(account?.spent ?? 0),
      servedBytes: account?.servedBytes ?? 0,
      paidBytes: account?.paidBytes ?? 0,
      boughtBytes: account?.boughtBytes ?? 0,
      unpaidBytes: account?.unpaidBytes ?? 0,
      rejected: account?.rejected ?? 0,
    },
    offer:
      offer === undefined
        ? null
        : {
            uplinkMbps: offer.uplinkMbps,
            maxConcurrent: offer.maxConcurrent,
            pricePerGiB: offer.pricePerGiB,
            expiresAt: offer.expiresAt,
            lending: offer.lending ?? null,
          },
    offeredBytesPerSec: offeredBytesPerSec(offer) ?? null,
    deliveredBytesPerSec: summary?.throughputMBps == null ? null : summary.throughputMBps * 1e6,
  }
}

/** A connection through a circuit relay (its address says so; a capped one also carries limits). */
export function isRelayed(connection: Connection): boolean {
  return connection.limits !== undefined || connection.remoteAddr.toString().includes('/p2p-circuit')
}
