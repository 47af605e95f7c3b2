import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { tcp } from '@libp2p/tcp'
import { uPnPNAT } from '@libp2p/upnp-nat'
import type { BwnodeConfig } from '../config/schema.ts'
import { DirectRetry } from './direct-retry.ts'
import { ObservedAddresses } from './observed.ts'
import { reusePortTcp } from './reuse-port.ts'

/** The listen address that makes libp2p reserve a slot on relays it finds among its peers. */
export const CIRCUIT_LISTEN = '/p2p-circuit'

/** Longest timer Node keeps (2^31 - 1 ms): "no limit" for a relay's duration cap. */
const UNLIMITED_DURATION_MS = 2 ** 31 - 1
/** "No limit" for a relay's data cap (a signed 64-bit count of bytes). */
const UNLIMITED_BYTES = 2n ** 63n - 1n

/**
 * Each DCUtR attempt's limit, and that of its first try (a direct dial to the peer's public
 * addresses), ms. Covers one SYN retransmission (1 s): the first SYN of a simultaneous open is
 * often dropped by the other NAT, the retransmitted one meets the mapping the other side opened.
 */
const HOLE_PUNCH_TIMEOUT_MS = 3_000

/** The priority @libp2p/dcutr gives its hole-punching dials (DCUTR_DIAL_PRIORITY there). */
const HOLE_PUNCH_DIAL_PRIORITY = 100

/**
 * Which end of a hole punch runs the handshake as initiator. A TCP simultaneous open makes one
 * connection that both ends dialed, and noise needs exactly one initiator. DCUtR asks one side to
 * dial with `initiator: false`, but libp2p's dial queue drops that option, so both ends start a
 * noise handshake as initiators and the connection fails. Each end knows both public endpoints
 * (its own as peers observe it, the one it dials), so the order of the two decides: the lower one
 * initiates. Without a known public endpoint of its own the end initiates (the other end, which
 * dials from a known one, then responds).
 */
export function holePunchInitiator(ownPublic: string[], target: string): boolean {
  const own = ownPublic.find((addr) => addr.split('/')[1] === target.split('/')[1])
  return own === undefined || own < target
}

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
  let observed: ObservedAddresses | undefined
  type Components = ConstructorParameters<typeof ObservedAddresses>[0]
  const observedAddresses = (components: Components): ObservedAddresses => {
    observed = new ObservedAddresses(components)
    return observed
  }
  // DCUtR tells the peer to dial what the address manager lists; behind NAT that is nothing
  // verified, so it sees the observed candidates too (and nothing else of libp2p does).
  type DcutrComponents = Parameters<ReturnType<typeof dcutr>>[0]
  const holePunch = (components: DcutrComponents) => {
    const addressManager = new Proxy(components.addressManager, {
      get: (target, key) =>
        key === 'getAddresses'
          ? () => observed?.holePunchAddresses() ?? target.getAddresses()
          : Reflect.get(target, key, target),
    })
    const withCandidates = new Proxy(components, {
      get: (target, key) => (key === 'addressManager' ? addressManager : Reflect.get(target, key, target)),
    })
    return dcutr({ timeout: HOLE_PUNCH_TIMEOUT_MS })(withCandidates)
  }
  type TcpComponents = Parameters<ReturnType<typeof reusePortTcp>>[0]
  const punchingTcp = (components: TcpComponents) => {
    const transport = reusePortTcp()(components)
    const dial = transport.dial.bind(transport)
    // Two hole punches between the same pair at once (each end got a relayed connection from the
    // other) would dial the same 4-tuple twice: the second one gives way.
    const punching = new Set<string>()
    transport.dial = async (ma, options) => {
      if ((options as { priority?: number }).priority !== HOLE_PUNCH_DIAL_PRIORITY) return dial(ma, options)
      const target = ma.decapsulateCode(421).toString()
      if (punching.has(target)) throw new Error(`a hole punch to ${target} is already under way`)
      const reach = observed?.reachability()
      const own = [...(reach?.publicAddrs ?? []), ...(reach?.observedAddrs ?? [])]
      const initiator = holePunchInitiator(own, target)
      punching.add(target)
      // The responding end is the server of every layer: noise and multistream-select follow
      // `initiator`, yamux the connection's direction (else both ends are yamux clients).
      const upgrader = options.upgrader
      const asResponder: typeof upgrader = Object.create(upgrader)
      asResponder.upgradeOutbound = (maConn, opts) => {
        ;(maConn as { direction: string }).direction = 'inbound'
        return upgrader.upgradeOutbound(maConn, opts)
      }
      try {
        return await dial(ma, {
          ...options,
          initiator,
          ...(initiator ? {} : { upgrader: asResponder }),
        } as typeof options)
      } finally {
        punching.delete(target)
      }
    }
    return transport
  }
  return {
    transports: [holePunching ? punchingTcp : tcp(), ...(active ? [circuitRelayTransport()] : [])],
    listen: reserve ? [CIRCUIT_LISTEN] : [],
    services: {
      ...(active ? { observedAddresses } : {}),
      ...(holePunching ? { dcutr: holePunch } : {}),
      ...(active
        ? {
            directRetry: (components: ConstructorParameters<typeof DirectRetry>[0]) =>
              new DirectRetry(components),
          }
        : {}),
      ...(active && nat.autonat ? { autonat: autoNATv2() } : {}),
      // Confirmed at once: the router says which external address and port it opened.
      ...(active && nat.upnp ? { upnp: uPnPNAT({ autoConfirmAddress: true }) } : {}),
      ...(relay.enabled ? { relay: circuitRelayServer({ reservations: relayReservations(relay) }) } : {}),
    },
  }
}
