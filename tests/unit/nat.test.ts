import { setTimeout as sleep } from 'node:timers/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { describe, expect, it } from 'vitest'
import { reachabilityLines } from '../../src/cli/commands/status.ts'
import { configSchema } from '../../src/config/schema.ts'
import { type AddressEntry, classifyReachability } from '../../src/nat/reachability.ts'
import { listenEndpoint, reusePortTcp } from '../../src/nat/reuse-port.ts'
import {
  holePunchInitiator,
  listensBeyondLoopback,
  natParts,
  relayReservations,
} from '../../src/nat/services.ts'

const entry = (addr: string, type: AddressEntry['type'], verified = true): AddressEntry => ({
  multiaddr: multiaddr(addr),
  type,
  verified,
})
const none = { routerMapped: new Set<string>(), observed: [] }

describe('reachability from the node addresses', () => {
  it('a public listen or announce address is public; LAN and loopback ones are not', () => {
    expect(classifyReachability([entry('/ip4/88.77.0.2/tcp/4010', 'announce')], none).kind).toBe('public')
    const lan = [
      entry('/ip4/192.168.1.2/tcp/4010', 'transport'),
      entry('/ip4/127.0.0.1/tcp/4010', 'transport'),
    ]
    expect(classifyReachability(lan, none)).toEqual({
      kind: 'private',
      publicAddrs: [],
      observedAddrs: [],
      relayAddrs: [],
    })
  })

  it('a router mapping makes it nat-mapped, and is not listed as merely observed', () => {
    const mapped = '/ip4/88.77.0.13/tcp/4010'
    const addrs = [entry('/ip4/192.168.3.2/tcp/4010', 'transport'), entry(mapped, 'ip-mapping', false)]
    const found = classifyReachability(addrs, { routerMapped: new Set([mapped]), observed: [mapped] })
    expect(found).toMatchObject({ kind: 'nat-mapped', publicAddrs: [mapped], observedAddrs: [] })
  })

  it('an observed address is a hole-punching candidate, not reachability', () => {
    const observed = '/ip4/88.77.0.11/tcp/4010'
    const circuit =
      '/ip4/88.77.0.2/tcp/4010/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit'
    const sources = { routerMapped: new Set<string>(), observed: [observed] }
    const unverified = entry(observed, 'observed', false)
    const withRelay = classifyReachability([unverified, entry(circuit, 'transport')], sources)
    expect(withRelay).toMatchObject({ kind: 'relayed', observedAddrs: [observed], relayAddrs: [circuit] })
    expect(classifyReachability([unverified], sources).kind).toBe('nat')
    // Verified by AutoNAT's dial-backs: peers can dial it.
    expect(classifyReachability([entry(observed, 'observed')], sources)).toMatchObject({
      kind: 'nat-mapped',
      publicAddrs: [observed],
      observedAddrs: [],
    })
  })
})

describe('NAT config', () => {
  it('is off for a loopback-only node and on beyond loopback', () => {
    const local = configSchema.parse({})
    expect(listensBeyondLoopback(local)).toBe(false)
    const parts = natParts(local)
    expect(parts.listen).toEqual([])
    expect(Object.keys(parts.services)).toEqual([])
    const home = configSchema.parse({ listen: ['/ip4/192.168.1.2/tcp/4010'] })
    expect(Object.keys(natParts(home).services).sort()).toEqual([
      'autonat',
      'dcutr',
      'directRetry',
      'observedAddresses',
      'upnp',
    ])
    expect(natParts(home).listen).toEqual(['/p2p-circuit'])
    const relay = configSchema.parse({ listen: ['/ip4/88.77.0.2/tcp/4010'], relay: { enabled: true } })
    expect(natParts(relay).listen).toEqual([])
    expect(Object.keys(natParts(relay).services)).toContain('relay')
  })

  it('relay circuits are unlimited unless a cap is set; one cap set leaves the other unlimited', () => {
    const relay = configSchema.parse({}).relay
    expect(relayReservations(relay)).toEqual({
      maxReservations: 64,
      reservationTtl: 7_200_000,
      applyDefaultLimit: false,
    })
    const capped = relayReservations({ ...relay, maxCircuitBytes: 1 << 30 })
    expect(capped.applyDefaultLimit).toBe(true)
    expect(capped.defaultDataLimit).toBe(BigInt(1 << 30))
    expect(capped.defaultDurationLimit).toBe(2 ** 31 - 1)
  })
})

describe('dialing from the listen port', () => {
  it('picks a listen address of the target family, loopback only for a loopback target', () => {
    const addrs = [multiaddr('/ip4/127.0.0.1/tcp/4010'), multiaddr('/ip4/192.168.1.2/tcp/4010')]
    expect(listenEndpoint(addrs, '88.77.0.2')).toEqual({ address: '192.168.1.2', port: 4010 })
    expect(listenEndpoint(addrs, '127.0.0.1')).toEqual({ address: '127.0.0.1', port: 4010 })
    expect(listenEndpoint(addrs, '::1')).toBeUndefined()
  })

  it('an outbound connection leaves from the port the node listens on', async () => {
    const make = () =>
      createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [reusePortTcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() },
      })
    const [a, b] = await Promise.all([make(), make()])
    try {
      const target = b.getMultiaddrs()[0]
      if (target === undefined) throw new Error('no listen address')
      const connection = await a.dial(target)
      const listenPort = a.getMultiaddrs()[0]?.getComponents()[1]?.value
      // The inbound side finishes its upgrade a moment after the dialer's.
      for (let i = 0; i < 100 && b.getConnections(a.peerId).length === 0; i++) await sleep(10)
      const seen = b.getConnections(a.peerId)[0]?.remoteAddr.getComponents()[1]?.value
      expect(connection.status).toBe('open')
      expect(seen).toBe(listenPort)
    } finally {
      await Promise.allSettled([a.stop(), b.stop()])
    }
  })
})

describe('hole punch roles', () => {
  it('the end with the lower public endpoint initiates, the other responds; unknown initiates', () => {
    const a = '/ip4/88.77.0.10/tcp/4010'
    const b = '/ip4/88.77.0.11/tcp/4010'
    expect(holePunchInitiator([a], b)).toBe(true)
    expect(holePunchInitiator([b], a)).toBe(false)
    expect(holePunchInitiator([], a)).toBe(true)
  })
})

describe('bwnode status: reachability lines', () => {
  it('says how peers reach the node, with its addresses, and what it relays', () => {
    const relayed = reachabilityLines({
      kind: 'relayed',
      publicAddrs: [],
      observedAddrs: ['/ip4/88.77.0.11/tcp/4010'],
      relayAddrs: ['/ip4/88.77.0.2/tcp/4010/p2p/12D3KooWRelay/p2p-circuit'],
      relay: null,
    })
    expect(relayed[0]).toMatch(/^reachable {3}behind NAT, reachable through a relay/)
    expect(relayed).toContain('observed    /ip4/88.77.0.11/tcp/4010')
    expect(relayed).toContain('via relay   /ip4/88.77.0.2/tcp/4010/p2p/12D3KooWRelay/p2p-circuit')
    const relay = reachabilityLines({
      kind: 'public',
      publicAddrs: ['/ip4/88.77.0.2/tcp/4010'],
      observedAddrs: [],
      relayAddrs: [],
      relay: { reservations: 4, maxReservations: 64 },
    })
    expect(relay).toEqual([
      'reachable   public (peers dial it directly)',
      'public      /ip4/88.77.0.2/tcp/4010',
      'relay       serving: 4 of 64 reservations held',
    ])
    const off = { kind: null, publicAddrs: [], observedAddrs: [], relayAddrs: [], relay: null }
    expect(reachabilityLines(off)).toEqual(['reachable   NAT traversal off (listens on loopback only)'])
  })
})
