import net from 'node:net'
import type { ComponentLogger, Metrics } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * TCP hole punching needs outgoing connections to leave from the port the node listens on: a NAT
 * maps that one internal port, peers learn its external form (identify's observed address), and
 * a simultaneous open only meets if both SYNs use the mapped ports. Linux lets a second socket
 * bind a port in use only when every socket on it set SO_REUSEPORT. Node 24 can listen with
 * `reusePort`, but `net.connect({ localPort })` binds without the flag, so the bind fails with
 * EADDRINUSE while the listener holds the port.
 *
 * The fix is kept here: the listener listens with `reusePort`, and dials that carry the DIAL_FROM
 * option go through a wrapped `net.connect` that, after the socket and its handle exist and
 * before the bind runs (Node binds on the next tick), makes the handle's bind pass
 * UV_TCP_REUSEPORT. Dials without the option (every other user of `net.connect`) are untouched.
 */

/** libuv's UV_TCP_REUSEPORT bind flag (uv.h), what Node's own `listen({ reusePort })` passes. */
const UV_TCP_REUSEPORT = 2

/** A dial option: returns the local address and port to dial from, for the target's family. */
export const DIAL_FROM = Symbol.for('bwnode.dialFrom')

export type DialFrom = (target: string) => { address: string; port: number } | undefined

interface BindableHandle {
  bind?: (address: string, port: number, flags?: number) => number
  bind6?: (address: string, port: number, flags?: number) => number
}

/** Remote endpoints that already have a connection from our listen port (a 4-tuple can only exist once). */
const fromListenPort = new Set<string>()

const originalConnect = net.connect

/**
 * Whether this process's connection to host:port left from the listen port. Only such a
 * connection's observed address is the NAT's mapping of the listen port, the one a hole punch
 * must aim at; one dialed from an ephemeral port was mapped elsewhere.
 */
export function dialedFromListenPort(host: string, port: number): boolean {
  return fromListenPort.has(`${host}:${port}`)
}

function connectFrom(...args: unknown[]): net.Socket {
  const options = args[0] as (net.TcpNetConnectOpts & { [DIAL_FROM]?: DialFrom }) | undefined
  const dialFrom = typeof options === 'object' && options !== null ? options[DIAL_FROM] : undefined
  if (dialFrom === undefined || options === undefined || typeof options.host !== 'string') {
    return (originalConnect as (...a: unknown[]) => net.Socket)(...args)
  }
  const local = dialFrom(options.host)
  const key = `${options.host}:${options.port}`
  if (local === undefined || fromListenPort.has(key)) return originalConnect(options)
  // A second connection to the same endpoint cannot share the 4-tuple: it takes an ephemeral port.
  const socket = originalConnect({ ...options, localAddress: local.address, localPort: local.port })
  const handle = (socket as unknown as { _handle?: BindableHandle })._handle
  if (handle !== undefined) {
    for (const name of ['bind', 'bind6'] as const) {
      const bind = handle[name]
      if (typeof bind !== 'function') continue
      handle[name] = (address, port, flags) =>
        bind.call(handle, address, port, (flags ?? 0) | UV_TCP_REUSEPORT)
    }
  }
  fromListenPort.add(key)
  socket.once('close', () => fromListenPort.delete(key))
  return socket
}

let installed = false

/** Routes `net.connect` through connectFrom (once per process; inert for dials without DIAL_FROM). */
function install(): void {
  if (installed) return
  installed = true
  ;(net as { connect: typeof net.connect }).connect = connectFrom as typeof net.connect
}

interface ReusePortComponents {
  logger: ComponentLogger
  metrics?: Metrics
  transportManager: { getAddrs(): Multiaddr[] }
  addressManager: { getListenAddrs(): Multiaddr[] }
}

const LOOPBACK = /^(127\.|::1$)/

/**
 * The TCP address the node listens on to dial `target` from (after start, with its real port):
 * the same IP family, and loopback only for a loopback target (a socket bound to 127.0.0.1
 * cannot reach anything else).
 */
export function listenEndpoint(
  addrs: Multiaddr[],
  target: string,
): { address: string; port: number } | undefined {
  const family = net.isIPv6(target) ? 'ip6' : 'ip4'
  const loopbackTarget = LOOPBACK.test(target)
  for (const addr of addrs) {
    const parts = addr.getComponents()
    const [ip, port] = parts
    if (parts.length !== 2 || ip?.name !== family || port?.name !== 'tcp' || ip.value === undefined) continue
    if (LOOPBACK.test(ip.value) !== loopbackTarget) continue
    return { address: ip.value, port: Number(port.value) }
  }
  return undefined
}

/** @libp2p/tcp that listens with SO_REUSEPORT and dials from its listen port. */
export function reusePortTcp(): (components: ReusePortComponents) => ReturnType<ReturnType<typeof tcp>> {
  install()
  return (components) => {
    const log = components.logger.forComponent('bwnode:nat:reuse-port')
    const dialFrom: DialFrom = (target) => {
      const addrs = components.transportManager.getAddrs()
      // A dial made while the listener is still starting (bootstrap) binds the configured port;
      // the listener then binds it too, both with SO_REUSEPORT. Port 0 has no number to bind yet.
      const local =
        listenEndpoint(addrs, target) ??
        listenEndpoint(
          components.addressManager.getListenAddrs().filter((addr) => addr.getComponents()[1]?.value !== '0'),
          target,
        )
      if (local === undefined) log('no listen address to dial %s from in %s', target, addrs.join(' '))
      return local
    }
    return tcp({
      // `reusePort` is a net.Server listen option the TCP options type does not list.
      listenOpts: { reusePort: true } as Record<string, unknown>,
      dialOpts: { [DIAL_FROM]: dialFrom } as Record<string | symbol, unknown>,
    })(components)
  }
}
