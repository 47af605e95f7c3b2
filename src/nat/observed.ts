import type { ComponentLogger, IdentifyResult, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { type AddressEntry, classifyReachability, type Reachability } from './reachability.ts'

/** How long a confirmation from one observation lasts; every identify renews it, ms. */
const OBSERVED_TTL_MS = 10 * 60_000

interface ObservedComponents {
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  addressManager: {
    addObservedAddr(addr: Multiaddr): void
    confirmObservedAddr(addr: Multiaddr, options?: { ttl?: number; type?: 'observed' }): void
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
 * Makes the public address peers observe usable for hole punching at once. DCUtR sends the
 * addresses libp2p has verified, and libp2p verifies an observed address only after AutoNAT
 * dial-backs succeed from several /8 networks: a node behind NAT has none of those (that is the
 * point), and in a small network there are not four /8s to ask. So the public TCP address a
 * direct (not relayed) peer reports is confirmed here for a few minutes; it is remembered as
 * "observed", so the node's reachability never counts it as proof that peers can dial it.
 */
export class ObservedAddresses {
  private readonly components: ObservedComponents
  private readonly confirmed = new Set<string>()
  private readonly routerMapped = new Set<string>()
  private readonly log: ReturnType<ComponentLogger['forComponent']>

  constructor(components: ObservedComponents) {
    this.components = components
    this.log = components.logger.forComponent('bwnode:nat:observed')
    // A port the router mapped (UPnP) often has the same external form as the observed address
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
    // Only the address and port: identify's observation may carry the remote's view of /p2p/.
    const [ip, port] = observedAddr.getComponents()
    if (ip === undefined || port === undefined) return
    const addr = observedAddr.decapsulateCode(421)
    if (!TCP.exactMatch(addr) || isPrivate(addr)) return
    const text = addr.toString()
    if (!this.confirmed.has(text)) this.log('confirming observed address %a for hole punching', addr)
    this.confirmed.add(text)
    this.components.addressManager.addObservedAddr(addr)
    this.components.addressManager.confirmObservedAddr(addr, { ttl: OBSERVED_TTL_MS, type: 'observed' })
  }

  reachability(): Reachability {
    return classifyReachability(this.components.addressManager.getAddressesWithMetadata(), {
      routerMapped: this.routerMapped,
      confirmedFromObservations: this.confirmed,
    })
  }
}

export function observedAddresses(): (components: ObservedComponents) => ObservedAddresses {
  return (components) => new ObservedAddresses(components)
}
