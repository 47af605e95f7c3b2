import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFrame } from '../../src/protocols/chunk/frame-writer.ts'
import { ChunkSession, registerChunkProtocol } from '../../src/protocols/chunk/index.ts'
import { MapChunkSource, makeChunks, type TestChunk } from '../helpers/chunks.ts'
import { connect, createTestNodes, stopNodes, type TestNode } from '../helpers/libp2p.ts'

const CHUNK_BYTES = 1024 * 1024
const CHUNK_COUNT = 64
const IN_FLIGHT = 16
const BARE_PROTOCOL = '/bwnode/test/bare-bytes/1.0.0'
const ROUNDS = 3

let nodes: TestNode[] = []
let server: TestNode
let client: TestNode
let chunks: TestChunk[]

beforeAll(async () => {
  nodes = await createTestNodes(2)
  server = nodes[0] as TestNode
  client = nodes[1] as TestNode
  await connect(client, server)
  chunks = await makeChunks(CHUNK_COUNT, () => CHUNK_BYTES)
  await registerChunkProtocol(server, new MapChunkSource(chunks))
  // The baseline: the same bytes written in the same 1 MiB pieces on a bare stream, respecting
  // backpressure the same way, with no framing, no requests and no verification.
  await server.handle(BARE_PROTOCOL, async (stream: Stream) => {
    for (const c of chunks) await writeFrame(stream, [c.bytes], 30_000)
    await stream.close()
  })
})

afterAll(async () => {
  await stopNodes(nodes)
})

async function bareTransfer(): Promise<number> {
  const stream = await client.dialProtocol(server.peerId, BARE_PROTOCOL)
  let received = 0
  for await (const data of stream) received += data.byteLength
  await stream.close()
  return received
}

async function sessionTransfer(): Promise<number> {
  const session = await ChunkSession.open(client, server.peerId, { maxInFlight: IN_FLIGHT })
  const results = await Promise.all(chunks.map((c) => session.get(c.cid)))
  await session.close()
  return results.reduce((n, b) => n + b.length, 0)
}

async function timed(run: () => Promise<number>): Promise<{ bytes: number; ms: number }> {
  const start = performance.now()
  const bytes = await run()
  return { bytes, ms: performance.now() - start }
}

describe('chunk protocol throughput', () => {
  it('moves 64 MiB over one ChunkSession at a rate close to a bare stream', async () => {
    // Warm up both paths (JIT, yamux window growth) before measuring.
    await bareTransfer()
    await sessionTransfer()
    const bare: number[] = []
    const session: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither path always runs on a warmer machine.
      const a = await timed(round % 2 === 0 ? bareTransfer : sessionTransfer)
      const b = await timed(round % 2 === 0 ? sessionTransfer : bareTransfer)
      const [bareRun, sessionRun] = round % 2 === 0 ? [a, b] : [b, a]
      expect(bareRun.bytes).toBe(CHUNK_BYTES * CHUNK_COUNT)
      expect(sessionRun.bytes).toBe(CHUNK_BYTES * CHUNK_COUNT)
      bare.push(bareRun.ms)
      session.push(sessionRun.ms)
    }
    const best = (xs: number[]): number => Math.min(...xs)
    const mibPerS = (ms: number): number => (CHUNK_BYTES * CHUNK_COUNT) / (1024 * 1024) / (ms / 1000)
    const ratio = best(bare) / best(session)
    console.log(
      `throughput 64 MiB: bare ${mibPerS(best(bare)).toFixed(0)} MiB/s, ` +
        `ChunkSession ${mibPerS(best(session)).toFixed(0)} MiB/s, ratio ${ratio.toFixed(2)} ` +
        `(bare ms ${bare.map((x) => x.toFixed(0)).join('/')}, session ms ${session.map((x) => x.toFixed(0)).join('/')})`,
    )
    // A smoke check only: the protocol must not cost more than half the bare rate.
    expect(ratio).toBeGreaterThan(0.5)
  })
})
