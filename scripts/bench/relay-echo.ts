/**
 * Checks the delay relays with no libp2p in the way: a raw TCP connect plus a 1-byte echo through
 * the TCP relay should take 2 RTTs (SYN, then the echo), a 1-datagram echo through the UDP relay
 * 1 RTT. What a handshake takes beyond whole round trips is then its own processing.
 */
import { createSocket } from 'node:dgram'
import { createServer, connect as tcpConnect } from 'node:net'
import { tcpDelayRelay, udpDelayRelay } from './delay-relay.ts'

/** Milliseconds from connect to the echoed byte, through a TCP relay delaying `delayMs` one way. */
export async function tcpEchoMs(delayMs: number): Promise<number> {
  const echo = createServer((socket) => socket.pipe(socket))
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
  const address = echo.address()
  if (address === null || typeof address === 'string') throw new Error('echo server has no port')
  const relay = await tcpDelayRelay(address.port, delayMs)
  try {
    return await new Promise<number>((resolve, reject) => {
      const started = performance.now()
      const socket = tcpConnect(relay.port, '127.0.0.1', () => socket.write(Uint8Array.of(1)))
      socket.once('data', () => {
        resolve(performance.now() - started)
        socket.destroy()
      })
      socket.once('error', reject)
    })
  } finally {
    await relay.close()
    await new Promise<void>((resolve) => echo.close(() => resolve()))
  }
}

/** Milliseconds for one datagram to come back, through a UDP relay delaying `delayMs` one way. */
export async function udpEchoMs(delayMs: number): Promise<number> {
  const echo = createSocket('udp4')
  echo.on('message', (data, from) => echo.send(data, from.port, from.address))
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve))
  const relay = await udpDelayRelay(echo.address().port, delayMs)
  const client = createSocket('udp4')
  try {
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve))
    return await new Promise<number>((resolve) => {
      const started = performance.now()
      client.once('message', () => resolve(performance.now() - started))
      client.send(Uint8Array.of(1), relay.port, '127.0.0.1')
    })
  } finally {
    client.close()
    await relay.close()
    echo.close()
  }
}
