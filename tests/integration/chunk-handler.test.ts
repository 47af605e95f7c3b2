import type { Stream } from '@libp2p/interface'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  CHUNK_PROTOCOL,
  ChunkErrorCode,
  type ChunkServer,
  type ChunkServerInit,
  ChunkSession,
  concatParts,
  encodeRequest,
  PeerScore,
  registerChunkProtocol,
  type ServePolicy,
} from '../../src/protocols/chunk/index.ts'
import { encodeVarint } from '../../src/protocols/chunk/varint.ts'
import { MapChunkSource, makeChunks, type TestChunk } from '../helpers/chunks.ts'
import { connect, createTestNodes, stopNodes, type TestNode } from '../helpers/libp2p.ts'

// Short timeouts so misbehaving peers are dealt with quickly; the assertions are about what
// happens, never about how long it took.
const FAST: ChunkServerInit = { idleTimeoutMs: 300, messageTimeoutMs: 300, drainTimeoutMs: 500 }

let nodes: TestNode[] = []
let server: TestNode
let client: TestNode
let chunks: TestChunk[]
let srv: ChunkServer
let score: PeerScore

async function start(init: ChunkServerInit = {}, policy: ServePolicy = {}): Promise<void> {
  score = new PeerScore({ dropThreshold: 100 })
  srv = await registerChunkProtocol(server, new MapChunkSource(chunks), policy, {
    ...FAST,
    ...init,
    peerScore: score,
  })
}

beforeEach(async () => {
  nodes = await createTestNodes(2)
  server = nodes[0] as TestNode
  client = nodes[1] as TestNode
  await connect(client, server)
  chunks = await makeChunks(8, () => 1024 * 1024)
})

afterEach(async () => {
  await stopNodes(nodes)
})

async function rawStream(): Promise<Stream> {
  return client.dialProtocol(server.peerId, CHUNK_PROTOCOL)
}

/** Resolves when the stream is closed or reset, with the error it ended with, if any. */
function ended(stream: Stream): Promise<Error | undefined> {
  if (stream.status !== 'open') return Promise.resolve(undefined)
  return new Promise((resolve) => {
    stream.addEventListener('close', (evt) => resolve(evt.error), { once: true })
  })
}

/** The node must still serve a well-behaved peer after any abuse. */
async function stillServes(): Promise<void> {
  const session = await ChunkSession.open(client, server.peerId)
  const c = chunks[0] as TestChunk
  expect(await session.get(c.cid)).toEqual(c.bytes)
  await session.close()
}

describe('chunk handler under abuse', () => {
  it('aborts a stream that sends garbage, counts the peer, and keeps serving', async () => {
    await start()
    const stream = await rawStream()
    const done = ended(stream)
    // 0xff... is a varint that never terminates within the allowed length.
    stream.send(new Uint8Array(64).fill(0xff))
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => score.count(client.peerId)).toBe(1)
    expect(score.reasons(client.peerId)).toEqual([ChunkErrorCode.BAD_FRAME])
    await expect.poll(() => srv.activeStreams).toBe(0)
    await stillServes()
  })

  it('answers a well-framed but malformed request with ERR_BAD_REQUEST', async () => {
    await start()
    const session = await ChunkSession.open(client, server.peerId)
    // Reach into the wire: a GET whose CID bytes are nonsense, with a valid request id.
    const stream = await rawStream()
    const body = Uint8Array.of(0x01, 0x07, 0xde, 0xad, 0xbe, 0xef)
    stream.send(concatParts([encodeVarint(body.length), body]))
    const reply = await firstFrame(stream)
    expect(reply[0]).toBe(0xff)
    expect(new TextDecoder().decode(reply)).toContain(ChunkErrorCode.BAD_REQUEST)
    expect(score.reasons(client.peerId)).toEqual([ChunkErrorCode.BAD_REQUEST])
    stream.abort(new Error('done'))
    await session.close()
  })

  it('aborts on an oversized frame before reading its body', async () => {
    await start()
    const stream = await rawStream()
    const done = ended(stream)
    stream.send(encodeVarint(64 * 1024 * 1024))
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => score.reasons(client.peerId)).toEqual([ChunkErrorCode.FRAME_TOO_LARGE])
    await expect.poll(() => srv.activeStreams).toBe(0)
    await stillServes()
  })

  it('times out a silent peer and frees its stream', async () => {
    await start()
    const stream = await rawStream()
    const done = ended(stream)
    await expect.poll(() => srv.activeStreams).toBe(1)
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => srv.activeStreams).toBe(0)
    expect(score.reasons(client.peerId)).toEqual([ChunkErrorCode.IDLE_TIMEOUT])
    await stillServes()
  })

  it('times out a frame that starts and never finishes (stalled writer)', async () => {
    await start({ idleTimeoutMs: 60_000 })
    const stream = await rawStream()
    const done = ended(stream)
    stream.send(Uint8Array.of(100, 0x01, 0x05))
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => score.reasons(client.peerId)).toEqual([ChunkErrorCode.READ_TIMEOUT])
    await expect.poll(() => srv.activeStreams).toBe(0)
    await stillServes()
  })

  it('aborts a peer that stops reading (stalled reader) and serves others meanwhile', async () => {
    let served = 0
    await start({}, { onServed: () => served++ })
    const stream = await rawStream()
    const done = ended(stream)
    // Stop reading: yamux stops granting window, the server's writes stop draining.
    stream.pause()
    const requests = chunks.map((c, i) => concatParts(encodeRequest({ type: 'get', id: i + 1, cid: c.cid })))
    for (const r of requests) stream.send(r)
    // While the stalled stream is stuck, another peer stream is served normally.
    await stillServes()
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => score.reasons(client.peerId)).toContain(ChunkErrorCode.DRAIN_TIMEOUT)
    await expect.poll(() => srv.activeStreams).toBe(0)
    // Far fewer than 8 chunks went out on the stalled stream (one to the healthy session).
    expect(served).toBeLessThan(chunks.length)
    await stillServes()
  })

  it('stops reading when its request queue is full (backpressure reaches the sender)', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let served = 0
    await start(
      { maxQueuedRequests: 4, readHighWaterBytes: 1024, idleTimeoutMs: 60_000, drainTimeoutMs: 60_000 },
      {
        pace: () => gate,
        onServed: () => served++,
      },
    )
    const stream = await rawStream()
    const c = chunks[1] as TestChunk
    const request = (id: number): Uint8Array => concatParts(encodeRequest({ type: 'get', id, cid: c.cid }))
    // ~1.3 MB of requests, in batches with event-loop turns between them so a server that kept
    // reading would parse them all.
    const total = 30_000
    for (let id = 1; id <= total; id++) {
      stream.send(request(id))
      if (id % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
    // The server parsed no more than its queue limit and buffers little beyond one read: the
    // rest sits in the transport (our write buffer or the paused yamux stream), bounded by the
    // stream's window and read-buffer cap.
    expect(srv.heldRequests).toBe(4)
    expect(srv.bufferedRequestBytes).toBeLessThan(256 * 1024)
    expect(stream.status).toBe('open')
    release()
    // Once released, the server drains the queue; we read a few responses and hang up.
    const first = await firstFrame(stream)
    expect(first[0]).toBe(0x81)
    stream.abort(new Error('enough'))
    await expect.poll(() => srv.activeStreams).toBe(0)
    expect(score.count(client.peerId)).toBe(0)
  })

  it('resets a peer that floods requests past the transport buffer, and keeps serving', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    await start({ maxQueuedRequests: 4, idleTimeoutMs: 60_000 }, { pace: () => gate })
    const stream = await rawStream()
    const done = ended(stream)
    const c = chunks[1] as TestChunk
    // ~9 MB of requests the server will not read: more than the 4 MiB a paused stream buffers.
    for (let id = 1; id <= 200_000 && stream.status === 'open'; id++) {
      stream.send(concatParts(encodeRequest({ type: 'get', id, cid: c.cid })))
      if (id % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    expect(await done).toBeInstanceOf(Error)
    await expect.poll(() => srv.activeStreams).toBe(0)
    release()
    await stillServes()
  })

  it('refuses peers that PeerScore says to drop', async () => {
    await start()
    for (let i = 0; i < 100; i++) score.record(client.peerId, 'test')
    const session = await ChunkSession.open(client, server.peerId)
    const err = await session.get((chunks[0] as TestChunk).cid).catch((e: unknown) => e)
    expect((err as { code?: string }).code).toBe(ChunkErrorCode.PEER_DROPPED)
  })
})

/** Reads the first response frame body from a raw stream (1-byte length prefix not assumed). */
async function firstFrame(stream: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const data of stream) {
    parts.push(data instanceof Uint8Array ? data : data.subarray())
    const all = concatParts(parts)
    let len = 0
    let shift = 1
    let i = 0
    for (; i < all.length; i++) {
      const b = all[i] as number
      len += (b & 0x7f) * shift
      shift *= 128
      if ((b & 0x80) === 0) break
    }
    if (i < all.length && all.length >= i + 1 + len) return all.subarray(i + 1, i + 1 + len)
  }
  throw new Error('stream ended before a full frame')
}
