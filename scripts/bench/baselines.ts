import { createServer, connect as tcpConnect } from 'node:net'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Bwnode } from '../../src/node/bwnode.ts'

/**
 * The baselines every throughput figure stands beside: the same bytes over plain TCP and over a
 * bare libp2p stream (TCP + noise + yamux, no protocol), served and received the simplest way
 * that respects backpressure.
 */

/** A TCP server that writes `data` to each client (waiting for 'drain' when the socket is full), then ends. */
export async function serveTcp(
  data: Uint8Array[],
  host = '127.0.0.1',
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((socket) => {
    let index = 0
    const pump = (): void => {
      while (index < data.length) {
        if (!socket.write(data[index++] as Uint8Array)) {
          socket.once('drain', pump)
          return
        }
      }
      socket.end()
    }
    socket.on('error', () => socket.destroy())
    pump()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('TCP server has no port')
  return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

/** Reads a TCP server to its end: the bytes received. */
export async function receiveTcp(host: string, port: number): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    let received = 0
    const socket = tcpConnect(port, host)
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength
    })
    socket.on('end', () => resolve(received))
    socket.on('error', reject)
  })
}

/** Serves `data` on `protocol` of the node: each stream gets all of it, then a close. */
export async function serveBare(node: Bwnode, protocol: string, data: Uint8Array[]): Promise<void> {
  await node.libp2p.handle(protocol, async (stream: Stream) => {
    for (const piece of data) {
      if (!stream.send(piece)) await stream.onDrain()
    }
    await stream.close()
  })
}

/** Reads one bare stream to its end: the bytes received. */
export async function receiveBare(node: Bwnode, peer: PeerId, protocol: string): Promise<number> {
  const stream = await node.libp2p.dialProtocol(peer, protocol)
  let received = 0
  for await (const chunk of stream) received += chunk.byteLength
  await stream.close()
  return received
}
