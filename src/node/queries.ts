import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { BwnodeConfig } from '../config/schema.ts'
import type { NodeReachability, NodeStatus, PeerDetail, PeerEntry } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import type { LatencyRecorder, PeerLatencySummary } from '../latency/recorder.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { LendingAllowance } from '../lending/allowance.ts'
import type { OfferBook, RankedOffer } from '../protocols/offer/book.ts'
import type { ContentStore } from '../store/content-store.ts'
import type { BandwidthMeter, BandwidthReport } from './bandwidth.ts'
import type { BwnodeLibp2p } from './libp2p.ts'
import type { NodeMetrics } from './metrics.ts'
import { describePeer, isRelayed, rttWindow } from './peer-detail.ts'
import type { PeerLatency } from './peer-latency.ts'
import { HANG_UP_TIMEOUT_MS } from './serving.ts'

export interface QuerySources {
  version: string
  config: BwnodeConfig
  libp2p: BwnodeLibp2p
  store: ContentStore
  latency: LatencyRecorder
  peerLatency: PeerLatency
  ledger: Ledger
  offers: OfferBook
  lending: LendingAllowance
  bandwidth: BandwidthMeter
  metrics: NodeMetrics
  /** Seconds since the node finished starting; 0 before. */
  uptimeSeconds(): number
  dhtJoined(): NodeStatus['dhtJoined']
}

/**
 * What the API asks of a running node: its status and reachability, its peers, one peer's
 * detail, the offers it knows, bandwidth figures; and the few actions on a peer (find, ping,
 * disconnect). Reads only: every service it reads is wired and started by `Bwnode`.
 */
export class NodeQueries {
  private readonly from: QuerySources

  constructor(sources: QuerySources) {
    this.from = sources
  }

  status(): NodeStatus {
    const { libp2p, config, latency, lending } = this.from
    return {
      version: this.from.version,
      peerId: libp2p.peerId.toString(),
      multiaddrs: libp2p.getMultiaddrs().map((addr) => addr.toString()),
      connectedPeers: libp2p.getPeers().length,
      dhtRoutingTableSize: libp2p.services.dht.routingTable.size,
      dhtMode: libp2p.services.dht.getMode(),
      dhtJoined: this.from.dhtJoined(),
      dataDir: config.dataDir,
      uptimeSeconds: this.from.uptimeSeconds(),
      offer: { ...config.offer },
      lending: lending.state(),
      coordinate: latency.coordinate,
      link: config.link ?? null,
      reachability: this.reachability(),
    }
  }

  /** How peers outside reach this node, from its addresses; and its reservations as a relay. */
  reachability(): NodeReachability {
    const { libp2p, config } = this.from
    const services = libp2p.services as { relay?: CircuitRelayService }
    const found = libp2p.services.observedAddresses?.reachability()
    return {
      kind: found?.kind ?? null,
      publicAddrs: found?.publicAddrs ?? [],
      observedAddrs: found?.observedAddrs ?? [],
      relayAddrs: found?.relayAddrs ?? [],
      relay:
        services.relay === undefined
          ? null
          : { reservations: services.relay.reservations.size, maxReservations: config.relay.maxReservations },
    }
  }

  /** `bwnode stats bw`: the meter's figures, each dataset with its name when it is held here. */
  async bandwidthReport(): Promise<BandwidthReport> {
    const report = this.from.bandwidth.report()
    const names = new Map((await this.from.store.list().catch(() => [])).map((d) => [d.cid, d.name]))
    return { ...report, datasets: report.datasets.map((d) => ({ ...d, name: names.get(d.cid) ?? null })) }
  }

  async peers(): Promise<PeerEntry[]> {
    const { libp2p, latency, peerLatency } = this.from
    const connected = new Set(libp2p.getPeers().map((peer) => peer.toString()))
    const direct = new Set<string>()
    for (const connection of libp2p.getConnections())
      if (!isRelayed(connection)) direct.add(connection.remotePeer.toString())
    const summaries = new Map<string, PeerLatencySummary>()
    for (const summary of await latency.peers().catch(() => [])) summaries.set(summary.peerId, summary)
    const self = libp2p.peerId.toString()
    const entries: PeerEntry[] = []
    for (const peer of await libp2p.peerStore.all()) {
      const id = peer.id.toString()
      if (id === self) continue
      const summary = summaries.get(id)
      const estimate = peerLatency.estimatedRtt(id)
      entries.push({
        peerId: id,
        addrs: peer.addresses.map((a) => a.multiaddr.toString()),
        connected: connected.has(id),
        connection: direct.has(id) ? 'direct' : connected.has(id) ? 'relayed' : null,
        rttMs: rttWindow(summary),
        throughputMBps: summary?.throughputMBps ?? null,
        estimatedRttMs: estimate === undefined ? null : Number(estimate.toFixed(3)),
      })
    }
    return entries.sort(
      (a, b) => Number(b.connected) - Number(a.connected) || a.peerId.localeCompare(b.peerId),
    )
  }

  /** GET /api/peers/:peerId: addresses, connections, RTT history, traffic, credits, offer. */
  async peerDetail(peerIdText: string): Promise<PeerDetail> {
    const { libp2p, latency, bandwidth, ledger, offers, peerLatency } = this.from
    return describePeer(
      { libp2p, latency, bandwidth, ledger, offers, estimatedRtt: (peer) => peerLatency.estimatedRtt(peer) },
      parsePeerId(peerIdText),
    )
  }

  async listOffers(refresh: boolean): Promise<RankedOffer[]> {
    const { offers } = this.from
    if (refresh) await offers.discover({ signal: AbortSignal.timeout(20_000) }).catch(() => [])
    return offers.list()
  }

  /** A DHT walk for the peer's addresses (not only the local peer store). */
  async findPeer(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; addrs: string[] }> {
    const target = parsePeerId(peerIdText)
    const info = await this.from.libp2p.peerRouting.findPeer(target, {
      signal: signal ?? AbortSignal.timeout(30_000),
    })
    return { peerId: info.id.toString(), addrs: info.multiaddrs.map((addr) => addr.toString()) }
  }

  /** Closes every connection to a peer (a lab re-dials to measure connecting, a user drops a peer). */
  async disconnect(peerIdText: string): Promise<{ peerId: string; closed: number }> {
    const { libp2p } = this.from
    const target = parsePeerId(peerIdText)
    const closed = libp2p.getConnections(target).length
    await libp2p.hangUp(target, { signal: AbortSignal.timeout(HANG_UP_TIMEOUT_MS) })
    return { peerId: target.toString(), closed }
  }

  /** One ping, recorded like the recorder's own (metrics, RTT history, Vivaldi update). */
  async ping(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; rttMs: number }> {
    const { libp2p, metrics, latency, offers } = this.from
    const target = parsePeerId(peerIdText)
    const rttMs = await libp2p.services.ping.ping(target, { signal: signal ?? AbortSignal.timeout(15_000) })
    metrics.observeRtt(target.toString(), rttMs)
    await latency.recordRtt(target, rttMs, offers.coordinateOf(target)).catch(() => {})
    return { peerId: target.toString(), rttMs }
  }
}

export function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch {
    throw new BwnodeError(ERR.BAD_PEER_ID, `not a peer id: ${text}`)
  }
}
