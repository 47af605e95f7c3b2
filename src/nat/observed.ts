import type { ComponentLogger, IdentifyResult, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { type AddressEntry, classifyReachability, type Reachability } from './reachability.ts'
import { dialedFromListenPort } from './reuse-port.ts'

/** How long one observation stays a hole-punching candidate; every identify renews it, ms. */
const CANDIDATE_TTL_MS = 10 * 60_000

/** Most candidates kept (a symmetric NAT shows a new port to every peer). */
const MAX_CANDIDATES = 8

interface ObservedComponents {
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  addressManager: {
    getAddresses(): Multiaddr[]
    getAddressesWithMetadata(): AddressEntry[]
    addPublicAddressMapping(
      internalIp: string,
      internalPort: number,
      externalIp: string,
      externalPort?: number,
      protocol?: 'tcp' | 'udp',
    ): void
  }
}

/**
 * The public addresses peers observe this node's connections come from, as candidates for hole
 * punching. DCUtR sends the addresses libp2p has verified, and libp2p verifies an observed
 * address only after AutoNAT dial-backs succeed from several /8 networks: a node behind NAT has
 * none of those (that is the point). Confirming the observations instead would advertise them
 * to every peer, and a dial to a NAT that drops unsolicited packets hangs until it times out;
 * so they are only handed to DCUtR (holePunchAddresses), which aims its simultaneous dial at them.
 */
export class ObservedAddresses {
  private readonly components: ObservedComponents
  /** Candidate address -> when it was last observed (ms since the epoch). */
  private readonly candidates = new Map<string, number>()
  private readonly routerMapped = new Set<string>()
  private readonly log: ReturnType<ComponentLogger['forComponent']>

  constructor(components: ObservedComponents) {
    this.components = components
    this.log = components.logger.forComponent('bwnode:nat:observed')
    // A port the router mapped (UPnP) often has the same external form as an observed address
    // (routers keep the source port), so the mapping is recorded where it is made: libp2p's
    // address list does not say who added an ip-mapping.
    const manager = components.addressManager
    const addMapping = manager.addPublicAddressMapping.bind(manager)
    manager.addPublicAddressMapping = (internalIp, internalPort, externalIp, externalPort, protocol) => {
      const family = externalIp.includes(':') ? 'ip6' : 'ip4'
      this.routerMapped.add(`/${family}/${externalIp}/${protocol ?? 'tcp'}/${externalPort ?? internalPort}`)
      addMapping(internalIp, internalPort, externalIp, externalPort, protocol)
    }
  }

  readonly [Symbol.toStringTag] = 'bwnode:observed-addresses'

  start(): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
  }

  stop(): void {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
  }

  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { observedAddr, connection } = event.detail
    if (observedAddr === undefined || !connection.direct) return
    // Only a connection dialed from the listen port shows the NAT's mapping of that port, the one
    // a hole punch aims at: what a peer saw of one from an ephemeral port (or of an inbound one,
    // which came through some mapping already) is no use to anyone.
    const [host, port] = connection.remoteAddr.getComponents()
    if (
      connection.direction !== 'outbound' ||
      host?.value === undefined ||
      !dialedFromListenPort(host.value, Number(port?.value))
    ) {
      this.log(
        'ignoring %a observed by %a: not dialed from the listen port',
        observedAddr,
        connection.remoteAddr,
      )
      return
    }
    // Only the address and port: identify's observation may carry the remote's view of /p2p/.
    const addr = observedAddr.decapsulateCode(421)
    if (!TCP.exactMatch(addr) || isPrivate(addr)) return
    const text = addr.toString()
    if (!this.candidates.has(text)) this.log('observed address %a is a hole punching candidate', addr)
    this.candidates.delete(text)
    this.candidates.set(text, Date.now())
    while (this.candidates.size > MAX_CANDIDATES) {
      const oldest = this.candidates.keys().next().value
      if (oldest === undefined) break
      this.candidates.delete(oldest)
    }
  }

  /** Current candidates, newest first. */
  observed(): string[] {
    const fresh = Date.now() - CANDIDATE_TTL_MS
    for (const [addr, seen] of this.candidates) if (seen < fresh) this.candidates.delete(addr)
    return [...this.candidates.keys()].reverse()
  }

  /** What DCUtR tells the peer to dial: the verified addresses, then the candidates. */
  holePunchAddresses(): Multiaddr[] {
    const verified = this.components.addressManager.getAddresses()
    const known = new Set(verified.map((addr) => addr.decapsulateCode(421).toString()))
    return [
      ...verified,
      ...this.observed()
        .filter((addr) => !known.has(addr))
        .map((addr) => multiaddr(addr)),
    ]
  }

  reachability(): Reachability {
    return classifyReachability(this.components.addressManager.getAddressesWithMetadata(), {
      routerMapped: this.routerMapped,
      observed: this.observed(),
    })
  }
}
