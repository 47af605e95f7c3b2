import { isPrivate } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How peers outside the node's network can reach it, from the addresses libp2p holds:
 * - public: it listens on or announces a public address (a server, a forwarded port);
 * - nat-mapped: behind NAT at a port the router mapped for it (UPnP), or one AutoNAT's dial-backs
 *   verified;
 * - relayed: behind NAT, reachable through a relay reservation (a `/p2p-circuit` address); hole
 *   punching may still turn a relayed connection direct;
 * - nat: behind NAT with neither (peers outside cannot dial it: no relay found yet);
 * - private: only loopback or LAN addresses, and no peer has reported a public one.
 */
export type ReachabilityKind = 'public' | 'nat-mapped' | 'relayed' | 'nat' | 'private'

/** The shape of libp2p's address manager entries this reads (its own type is internal). */
export interface AddressEntry {
  multiaddr: Multiaddr
  verified: boolean
  type: 'transport' | 'announce' | 'observed' | 'dns-mapping' | 'ip-mapping'
}

export interface Reachability {
  kind: ReachabilityKind
  /** Addresses peers outside can dial directly: public listen/announce ones and router mappings. */
  publicAddrs: string[]
  /** Public addresses peers saw this node's connections come from: hole punching aims at these. */
  observedAddrs: string[]
  /** `/p2p-circuit` addresses through relays holding a reservation for this node. */
  relayAddrs: string[]
}

const isCircuit = (addr: Multiaddr): boolean => addr.toString().includes('/p2p-circuit')

/** Loopback, LAN and unspecified addresses are not reachable from outside (isPrivate covers the first two). */
function isPublic(addr: Multiaddr): boolean {
  const text = addr.toString()
  return (
    !isCircuit(addr) && !isPrivate(addr) && !text.startsWith('/ip4/0.0.0.0/') && !text.startsWith('/ip6/::/')
  )
}

/**
 * Classifies the node. `routerMapped` holds the external addresses a router mapped for it
 * (UPnP); `observed` the public addresses peers saw its connections come from (src/nat/observed.ts):
 * candidates for hole punching, not proof of reachability. A verified address that is neither a
 * listen nor an announced one was confirmed by a router mapping or AutoNAT's dial-backs.
 */
export function classifyReachability(
  entries: AddressEntry[],
  sources: { routerMapped: ReadonlySet<string>; observed: string[] },
): Reachability {
  const publicAddrs: string[] = []
  const relayAddrs: string[] = []
  let mapped = false
  let listensPublic = false
  for (const entry of entries) {
    const addr = entry.multiaddr
    const text = addr.toString()
    if (isCircuit(addr)) {
      relayAddrs.push(text)
      continue
    }
    if (!isPublic(addr) || publicAddrs.includes(text)) continue
    if (entry.type === 'transport' || entry.type === 'announce' || entry.type === 'dns-mapping') {
      listensPublic = true
      publicAddrs.push(text)
    } else if (entry.verified || (entry.type === 'ip-mapping' && sources.routerMapped.has(text))) {
      mapped = true
      publicAddrs.push(text)
    }
  }
  const observedAddrs = sources.observed.filter((addr) => !publicAddrs.includes(addr))
  const kind: ReachabilityKind = listensPublic
    ? 'public'
    : mapped
      ? 'nat-mapped'
      : relayAddrs.length > 0
        ? 'relayed'
        : observedAddrs.length > 0
          ? 'nat'
          : 'private'
  return { kind, publicAddrs, observedAddrs, relayAddrs }
}
