import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import type { BwnodeConfig } from '../config/schema.ts'
import { observedAddresses } from './observed.ts'
import { reusePortTcp } from './reuse-port.ts'

/** The listen address that makes libp2p reserve a slot on relays it finds among its peers. */
export const CIRCUIT_LISTEN = '/p2p-circuit'

/** Longest timer Node keeps (2^31 - 1 ms): "no limit" for a relay's duration cap. */
const UNLIMITED_DURATION_MS = 2 ** 31 - 1
/** "No limit" for a relay's data cap (a signed 64-bit count of bytes). */
const UNLIMITED_BYTES = 2n ** 63n - 1n

/** A loopback-only node (tests, a single machine) has no router and no peers outside. */
export function listensBeyondLoopback(config: BwnodeConfig): boolean {
  return config.listen.some(
    (addr) => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(addr) && !addr.includes('/p2p-circuit'),
  )
}

/**
 * The relay's reservation limits in @libp2p/circuit-relay-v2's terms. Both per-circuit caps at 0
 * keep circuits unlimited (not "limited connections"): every protocol runs on them, a chunk
 * transfer included. Once either is set, libp2p's limit needs both values, so the unset one
 * becomes "no limit" in its own unit.
 */
export function relayReservations(relay: BwnodeConfig['relay']) {
  const limited = relay.maxCircuitBytes > 0 || relay.maxCircuitDurationMs > 0
  return {
    maxReservations: relay.maxReservations,
    reservationTtl: relay.reservationTtlMs,
    applyDefaultLimit: limited,
    ...(limited
      ? {
          defaultDataLimit: relay.maxCircuitBytes > 0 ? BigInt(relay.maxCircuitBytes) : UNLIMITED_BYTES,
          defaultDurationLimit:
            relay.maxCircuitDurationMs > 0 ? relay.maxCircuitDurationMs : UNLIMITED_DURATION_MS,
        }
      : {}),
  }
}

/**
 * What NAT traversal adds to the libp2p node: transports, listen addresses and services, from the
 * `nat` and `relay` config. Nothing at all for a loopback-only node, which keeps plain TCP.
 */
export function natParts(config: BwnodeConfig) {
  const active = listensBeyondLoopback(config)
  const { nat, relay } = config
  const holePunching = active && nat.holePunching
  // A relay is publicly reachable by definition: it does not reserve slots on other relays.
  const reserve = active && nat.relayClient && !relay.enabled
  return {
    transports: [holePunching ? reusePortTcp() : tcp(), ...(active ? [circuitRelayTransport()] : [])],
    listen: reserve ? [CIRCUIT_LISTEN] : [],
    services: {
      ...(active ? { observedAddresses: observedAddresses() } : {}),
      ...(holePunching ? { dcutr: dcutr() } : {}),
      ...(active && nat.autonat ? { autonat: autoNATv2() } : {}),
      // Confirmed at once: the router says which external address and port it opened.
      ...(active && nat.upnp ? { upnp: uPnPNAT({ autoConfirmAddress: true }) } : {}),
      ...(relay.enabled ? { relay: circuitRelayServer({ reservations: relayReservations(relay) }) } : {}),
    },
  }
}
