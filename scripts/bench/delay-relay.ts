/**
 * User-space relays on 127.0.0.1 that delay everything by D ms one way (RTT = 2D), one for TCP
 * and one for UDP, so a handshake's round trips can be counted on loopback (kernel netem is not
 * available here). The project's link emulator (src/net) shapes libp2p's TCP connections inside
 * the node and cannot see QUIC's datagrams, so the quic section needs its own, equal for both.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'

export interface Relay {
  /** The port on 127.0.0.1 to dial instead of the target's. */
  port: number
  close(): Promise<void>
}

/** A FIFO that hands each item on at its own release time, in order (one timer for the head). */
class DelayLine<T> {
  private readonly queue: Array<{ at: number; item: T }> = []
  private timer: NodeJS.Timeout | undefined
  private readonly deliver: (item: T) => void

  constructor(deliver: (item: T) => void) {
    this.deliver = deliver
  }

  /** `at` must not be earlier than the last one pushed (both directions here only add D). */
  push(item: T, at: number): void {
    this.queue.push({ at, item })
    if (this.timer === undefined) this.arm()
  }

  clear(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
  }

  private arm(): void {
    const head = this.queue[0]
    if (head === undefined) return
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.at - performance.now()))
  }

  private flush(): void {
    this.timer = undefined
    const now = performance.now()
    while (this.queue.length > 0 && (this.queue[0] as { at: number }).at <= now) {
      this.deliver((this.queue.shift() as { item: T }).item)
    }
    this.arm()
  }
}

/**
 * TCP: the relay accepts at once, which would hide the SYN round trip a real connection pays
 * before its first byte. So it opens its connection to the target D after accepting (the SYN's
 * one-way trip) and holds the client's bytes until 2D after accepting (when the client's connect
 * would have completed), then delays them D: the target sees the client's first byte at 3D, as
 * over a real link. After that every byte is delayed D.
 */
export async function tcpDelayRelay(targetPort: number, delayMs: number): Promise<Relay> {
  const sockets = new Set<Socket>()
  const lines = new Set<{ clear(): void }>()
  const server = createServer((client) => {
    const accepted = performance.now()
    let upstream: Socket | undefined
    const toServer = new DelayLine<Buffer | null>((chunk) => {
      if (upstream === undefined) return
      if (chunk === null) upstream.end()
      else upstream.write(chunk)
    })
    const toClient = new DelayLine<Buffer | null>((chunk) => {
      if (chunk === null) client.end()
      else client.write(chunk)
    })
    lines.add(toServer).add(toClient)
    sockets.add(client)
    const releaseToServer = (): number => Math.max(performance.now(), accepted + 2 * delayMs) + delayMs
    client.on('data', (chunk: Buffer) => toServer.push(chunk, releaseToServer()))
    client.on('end', () => toServer.push(null, releaseToServer()))
    const teardown = (): void => {
      toServer.clear()
      toClient.clear()
      lines.delete(toServer)
      lines.delete(toClient)
      client.destroy()
      upstream?.destroy()
    }
    client.on('error', teardown)
    client.on('close', teardown)
    const connectLater = setTimeout(() => {
      if (client.destroyed) return
      upstream = tcpConnect(targetPort, '127.0.0.1')
      sockets.add(upstream)
      upstream.setNoDelay(true)
      upstream.on('data', (chunk: Buffer) => toClient.push(chunk, performance.now() + delayMs))
      upstream.on('end', () => toClient.push(null, performance.now() + delayMs))
      upstream.on('error', teardown)
      upstream.on('close', teardown)
    }, delayMs)
    client.on('close', () => clearTimeout(connectLater))
    client.setNoDelay(true)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('TCP relay has no port')
  return {
    port: address.port,
    close: async () => {
      for (const line of lines) line.clear()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * UDP: every datagram is delayed D each way. Each client address gets its own socket towards the
 * target, so the target sees one peer per client, as through a NAT.
 */
export async function udpDelayRelay(targetPort: number, delayMs: number): Promise<Relay> {
  const front = createSocket('udp4')
  const upstreams = new Map<string, { socket: UdpSocket; line: DelayLine<Buffer> }>()
  const back = new DelayLine<{ data: Buffer; port: number }>(({ data, port }) => {
    front.send(data, port, '127.0.0.1')
  })
  front.on('message', (data, from) => {
    const key = `${from.address}:${from.port}`
    let up = upstreams.get(key)
    if (up === undefined) {
      const socket = createSocket('udp4')
      socket.on('message', (reply) =>
        back.push({ data: reply, port: from.port }, performance.now() + delayMs),
      )
      socket.on('error', () => socket.close())
      socket.bind(0, '127.0.0.1')
      const line = new DelayLine<Buffer>((datagram) => socket.send(datagram, targetPort, '127.0.0.1'))
      up = { socket, line }
      upstreams.set(key, up)
    }
    up.line.push(data, performance.now() + delayMs)
  })
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve))
  return {
    port: front.address().port,
    close: async () => {
      back.clear()
      for (const { socket, line } of upstreams.values()) {
        line.clear()
        socket.close()
      }
      upstreams.clear()
      await new Promise<void>((resolve) => front.close(() => resolve()))
    },
  }
}
