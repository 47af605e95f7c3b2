/**
 * The two stacks the quic section compares, as bare libp2p nodes (no DHT, identify or ping, so
 * only the transport's own work is measured), and the bulk protocol both ends speak: the client
 * writes the number of bytes it wants (8 bytes, big-endian), the server answers with that many.
 * Shared by the section (client side) and its child process (server side).
 */

import { noise } from '@chainsafe/libp2p-noise'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'

export type StackName = 'tcp' | 'quic'

export const BULK_PROTOCOL = '/bwnode-bench/quic-bulk/1.0.0'
/** Sender write size: the size of a bwnode chunk, as the loopback section's bare stream writes. */
const PIECE_BYTES = 1024 * 1024

/** TCP + noise + yamux as src/node/libp2p.ts builds them (library defaults), or QUIC alone, at its defaults. */
export async function bareNode(stack: StackName): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: [stack === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : '/ip4/127.0.0.1/udp/0/quic-v1'] },
    // QUIC brings its own encryption (TLS 1.3) and streams, so it needs no encrypter or muxer.
    ...(stack === 'tcp'
      ? { transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] }
      : { transports: [quic()] }),
    // The monitor pings over a protocol these nodes do not serve; nothing else should run.
    connectionMonitor: { enabled: false },
  })
  return node
}

/** Serve the bulk protocol: read the 8-byte request, send that many bytes, close. */
export async function serveBulk(node: Libp2p): Promise<void> {
  const piece = new Uint8Array(PIECE_BYTES).fill(0xa5)
  await node.handle(BULK_PROTOCOL, async (stream: Stream) => {
    const request = new Uint8Array(8)
    let have = 0
    for await (const chunk of stream) {
      const bytes = chunk.subarray(0, 8 - have)
      request.set(bytes, have)
      have += bytes.byteLength
      if (have === 8) break
    }
    if (have < 8) throw new Error(`bulk request of ${have} bytes, expected 8`)
    let left = Number(new DataView(request.buffer).getBigUint64(0))
    while (left > 0) {
      const n = Math.min(left, PIECE_BYTES)
      if (!stream.send(n === PIECE_BYTES ? piece : piece.subarray(0, n))) await stream.onDrain()
      left -= n
    }
    await stream.close()
  })
}

export interface BulkRead {
  bytes: number
  /** From asking to the first byte of the answer (stream already open). */
  firstByteMs: number
  /** From asking to the last byte. */
  totalMs: number
}

/** Ask an open bulk stream for `bytes` and read them all. */
export async function readBulk(stream: Stream, bytes: number): Promise<BulkRead> {
  const request = new Uint8Array(8)
  new DataView(request.buffer).setBigUint64(0, BigInt(bytes))
  const asked = performance.now()
  stream.send(request)
  let received = 0
  let firstByteMs = Number.NaN
  for await (const chunk of stream) {
    if (received === 0) firstByteMs = performance.now() - asked
    received += chunk.byteLength
  }
  const totalMs = performance.now() - asked
  await stream.close()
  if (received !== bytes) throw new Error(`bulk stream ended after ${received} of ${bytes} bytes`)
  return { bytes: received, firstByteMs, totalMs }
}
