import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify } from '@libp2p/identify'
import type { ComponentLogger, ConnectionProtector, PrivateKey } from '@libp2p/interface'
import {
  type KadDHTComponents,
  kadDHT,
  passthroughMapper,
  type SelectFn,
  type SingleKadDHT,
  type ValidateFn,
} from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import type { BwnodeConfig } from '../config/schema.ts'
import type { ObservedAddresses } from '../nat/observed.ts'
import { natParts } from '../nat/services.ts'
import { bwnodeNoiseCrypto } from './noise-crypto.ts'

/** The private DHT: bwnode nodes never mix with the public IPFS DHT. */
export const DHT_PROTOCOL = '/bwnode/kad/1.0.0'

/** Where kad-dht keeps its records in the node's datastore (its default, named so it is ours). */
export const DHT_DATASTORE_PREFIX = '/dht'

export type BwnodeServices = {
  /** One DHT (not a LAN + WAN pair): kad-dht's `SingleKadDHT`, which has a routing table. */
  dht: SingleKadDHT
  ping: Ping
  identify: unknown
  /** Present when NAT traversal runs (a node listening beyond loopback): its reachability. */
  observedAddresses?: ObservedAddresses
}

export type BwnodeLibp2p = Libp2p<BwnodeServices>

export interface Libp2pInit {
  config: BwnodeConfig
  privateKey: PrivateKey
  datastore?: Datastore
  /** Wraps every raw connection before encryption (link emulation in labs). */
  connectionProtector?: (components: { logger: ComponentLogger }) => ConnectionProtector
  validators?: Record<string, ValidateFn>
  selectors?: Record<string, SelectFn>
  /** Where libp2p's own metrics go (the node's registry, served at /metrics). */
  metricsRegistry?: Registry
}

export async function buildLibp2p(init: Libp2pInit): Promise<BwnodeLibp2p> {
  const { config } = init
  const peerDiscovery = []
  if (config.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: config.bootstrap, timeout: 100 }))
  if (config.mdns) peerDiscovery.push(mdns())
  const nat = natParts(config)
  return createLibp2p({
    privateKey: init.privateKey,
    ...(init.datastore === undefined ? {} : { datastore: init.datastore }),
    start: false,
    addresses: { listen: [...config.listen, ...nat.listen], announce: config.announce },
    transports: nat.transports,
    connectionEncrypters: [noise({ crypto: bwnodeNoiseCrypto })],
    // yamux grows a stream's receive window from 256 KiB up to this maximum (its own default is
    // 16 MiB); one stream moves at most a window per round trip, so the maximum must exceed the
    // bandwidth-delay product, with room for what queues behind the link. Only the receive side
    // is set: the initial window stays at the protocol's 256 KiB, which every peer assumes.
    streamMuxers: [
      yamux({ streamOptions: { maxStreamWindowSize: config.connections.maxStreamWindowBytes } }),
    ],
    ...(init.connectionProtector === undefined ? {} : { connectionProtector: init.connectionProtector }),
    peerDiscovery,
    ...(init.metricsRegistry === undefined
      ? {}
      : { metrics: prometheusMetrics({ registry: init.metricsRegistry, collectDefaultMetrics: false }) }),
    // libp2p's monitor pings every connection each 10 s, on top of the node's latency pinger: two
    // streams per peer per round, the largest part of a swarm's load at rest. The pinger is the
    // node's heartbeat instead (Bwnode drops a peer that misses two pings in a row).
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections: config.connections.maxConnections,
      inboundConnectionThreshold: config.connections.inboundPerHostPerSecond,
      maxIncomingPendingConnections: 64,
      dialTimeout: config.connections.dialTimeoutMs,
    },
    services: {
      ...nat.services,
      identify: identify(),
      // The latency recorder and a user's `bwnode ping` may ping the same peer at once.
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      // kadDHT() is declared to return the interface; the single DHT it builds is a SingleKadDHT
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        datastorePrefix: DHT_DATASTORE_PREFIX,
        // Serve records even on a LAN or loopback, where autodetection would stay a client.
        clientMode: false,
        // Keep LAN and loopback addresses: the default mapper drops them.
        peerInfoMapper: passthroughMapper,
        validators: init.validators ?? {},
        selectors: init.selectors ?? {},
        initialQuerySelfInterval: 200,
      }) as (components: KadDHTComponents) => SingleKadDHT,
    },
  })
}
