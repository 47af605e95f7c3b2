/**
 * Bare libp2p nodes (TCP + noise + yamux) with the link emulator, an echo and a sink protocol, and
 * the measurements over them: shared by scripts/calibrate-net.ts and the emulator tests
 * (tests/integration/net-emulator.test.ts). Scripts never import tests; tests may import this.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { createLinkEmulator, type LinkEmulatorInit, type NodeLink } from '../src/net/index.ts'

export const ECHO_PROTOCOL = '/bwnode-test/echo/1.0.0'
export const SINK_PROTOCOL = '/bwnode-test/sink/1.0.0'

export type TestNode = Libp2p<{ ping: ReturnType<ReturnType<typeof ping>>; identify: unknown }>

export interface TestNodeOptions {
  /** Install the link emulator with this link; leave unset for no connectionProtector at all. */
  link?: NodeLink
  emulator?: LinkEmulatorInit
  /** Yamux per-stream window, bytes (initial and max). */
  streamWindowBytes?: number
}

/** A real libp2p node on 127.0.0.1 with an echo and a byte-sink protocol for measurements. */
export async function createTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const window = options.streamWindowBytes
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux(
        window == null
          ? {}
          : {
              streamOptions: {
                initialStreamWindowSize: window,
                maxStreamWindowSize: window,
                maxReadBufferLength: 4 * window,
              },
            },
      ),
    ],
    connectionProtector:
      options.link == null ? undefined : createLinkEmulator(options.link, options.emulator),
    services: { ping: ping(), identify: identify() },
  })
  await node.handle(ECHO_PROTOCOL, (stream) => {
    stream.addEventListener('message', (evt) => {
      if (!stream.send(evt.data)) stream.pause()
    })
    stream.addEventListener('drain', () => stream.resume())
    stream.addEventListener('remoteCloseWrite', () => {
      void stream.close().catch(() => {})
    })
  })
  await node.handle(
    SINK_PROTOCOL,
    async (stream) => {
      let received = 0
      for await (const chunk of stream) received += chunk.byteLength
      const reply = new Uint8Array(8)
      new DataView(reply.buffer).setFloat64(0, received)
      stream.send(reply)
      await stream.close()
    },
    { maxInboundStreams: 64 },
  )
  return node as unknown as TestNode
}

/** Round trip of a small message over an already-open libp2p stream, ms (performance.now). */
export async function measureEchoRtts(stream: Stream, count: number): Promise<number[]> {
  const rtts: number[] = []
  const payload = new Uint8Array(32)
  for (let i = 0; i < count; i++) {
    const { promise, resolve } = Promise.withResolvers<void>()
    let got = 0
    const onMessage = (evt: { data: { byteLength: number } }): void => {
      got += evt.data.byteLength
      if (got >= payload.byteLength) resolve()
    }
    stream.addEventListener('message', onMessage)
    const start = performance.now()
    stream.send(payload)
    await promise
    rtts.push(performance.now() - start)
    stream.removeEventListener('message', onMessage)
  }
  return rtts
}

/**
 * Send `totalBytes` over `streams` parallel sink streams, honouring backpressure; returns the
 * goodput in Mbit/s from the first write until the sink confirms it has everything.
 */
export async function measureThroughputMbps(
  from: TestNode,
  to: TestNode | Multiaddr,
  totalBytes: number,
  streams = 1,
  chunkBytes = 64 * 1024,
): Promise<number> {
  const addr = 'getMultiaddrs' in to ? to.getMultiaddrs()[0] : to
  if (addr == null) throw new Error('node has no address')
  const opened = await Promise.all(
    Array.from({ length: streams }, () => from.dialProtocol(addr, SINK_PROTOCOL)),
  )
  const perStream = Math.ceil(totalBytes / streams)
  const chunk = new Uint8Array(chunkBytes).fill(7)
  const start = performance.now()
  const confirmed = await Promise.all(
    opened.map(async (stream) => {
      const reply = readAll(stream)
      for (let sent = 0; sent < perStream; sent += chunk.byteLength) {
        if (!stream.send(chunk.subarray(0, Math.min(chunk.byteLength, perStream - sent))))
          await stream.onDrain()
      }
      await stream.close()
      const bytes = await reply
      return new DataView(bytes.buffer, bytes.byteOffset).getFloat64(0)
    }),
  )
  const seconds = (performance.now() - start) / 1000
  const received = confirmed.reduce((a, b) => a + b, 0)
  if (received !== perStream * streams)
    throw new Error(`sink got ${received} of ${perStream * streams} bytes`)
  return (received * 8) / seconds / 1e6
}

async function readAll(stream: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk.subarray())
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/** A link whose round trip to an identical co-located peer is `rttMs` and whose rates are `mbps`. */
export function linkForRtt(rttMs: number, mbps = Number.POSITIVE_INFINITY): NodeLink {
  return {
    accessLatencyMs: rttMs / 4,
    uplinkMbps: mbps,
    downlinkMbps: mbps,
    position: { x: 0, y: 0 },
    routeInflation: 1,
  }
}
