import { isIP } from 'node:net'

/**
 * Which Host and Origin headers the API answers. Without this check a
 * DNS-rebinding page (evil.example re-pointed at 127.0.0.1) is same-origin
 * with the API in the browser's eyes and could read every GET route; such a
 * request always names the attacker's host, so refusing hosts the API does not
 * listen under closes it. IP literals are safe to accept when they are the
 * address the connection arrived on: no attacker can serve a page from them.
 */

/** Names under which a client on this machine reaches a loopback API. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1']

/** Port a browser leaves out of Host / Origin for each scheme. */
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

export interface HostAccess {
  /** The host the API binds (config `api.host`); accepted with the bound port. */
  bindHost: string
  /**
   * Further names (config `api.allowedHosts`), accepted on any port: the name
   * of a reverse proxy or port forward in front of the API, or a local alias.
   */
  allowedHosts?: readonly string[]
}

/** Where the request arrived: the socket's local address and port. */
export interface LocalEnd {
  address: string | undefined
  port: number | undefined
}

interface Authority {
  name: string
  port: number
}

/** Lower case, IPv6 without brackets, IPv4-mapped IPv6 as plain IPv4. */
export function normalizeHostName(name: string): string {
  let host = name.toLowerCase()
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host.startsWith('::ffff:') && isIP(host.slice(7)) === 4) host = host.slice(7)
  return host
}

/** `host[:port]` as sent in a Host header; undefined when it is not one. */
export function parseAuthority(text: string, defaultPort = DEFAULT_PORTS['http:']!): Authority | undefined {
  let name: string
  let portText: string | undefined
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end < 0) return undefined
    name = text.slice(0, end + 1)
    const rest = text.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined
      portText = rest.slice(1)
    }
    if (isIP(name.slice(1, -1)) !== 6) return undefined
  } else {
    const colon = text.indexOf(':')
    if (colon !== text.lastIndexOf(':')) return undefined
    name = colon < 0 ? text : text.slice(0, colon)
    portText = colon < 0 ? undefined : text.slice(colon + 1)
  }
  if (name === '' || name.length > 255) return undefined
  let port = defaultPort
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined
    port = Number(portText)
    if (port > 65535) return undefined
  }
  return { name: normalizeHostName(name), port }
}

export class HostCheck {
  private readonly boundNames: ReadonlySet<string>
  private readonly anyPortNames: ReadonlySet<string>

  constructor(access: HostAccess) {
    this.boundNames = new Set([...LOOPBACK_NAMES, normalizeHostName(access.bindHost)])
    this.anyPortNames = new Set((access.allowedHosts ?? []).map(normalizeHostName))
  }

  /** Does this Host header name the API? A request without one is refused (HTTP/1.1 requires it). */
  allowsHost(header: string | undefined, local: LocalEnd): boolean {
    if (header === undefined) return false
    const authority = parseAuthority(header)
    return authority !== undefined && this.allows(authority, local)
  }

  /**
   * Is this Origin header (sent by browsers on cross-site and state-changing
   * requests) a page served by the API itself? No header: not a browser page
   * (the CLI, curl, Prometheus), nothing to check. `null` (sandboxed frames,
   * file: pages) is refused.
   */
  allowsOrigin(header: string | undefined, local: LocalEnd): boolean {
    if (header === undefined) return true
    let url: URL
    try {
      url = new URL(header)
    } catch {
      return false
    }
    const defaultPort = DEFAULT_PORTS[url.protocol]
    if (defaultPort === undefined) return false
    const authority = parseAuthority(url.host, defaultPort)
    return authority !== undefined && this.allows(authority, local)
  }

  private allows({ name, port }: Authority, local: LocalEnd): boolean {
    if (this.anyPortNames.has(name)) return true
    if (port !== local.port) return false
    return (
      this.boundNames.has(name) || (local.address !== undefined && name === normalizeHostName(local.address))
    )
  }
}
