import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BwnodeError } from '../../src/errors/index.ts'
import {
  CHUNK_PROTOCOL,
  ChunkErrorCode,
  type ChunkServer,
  ChunkSession,
  MUXER_FRAME_BYTES,
  registerChunkProtocol,
  type ServePolicy,
} from '../../src/protocols/chunk/index.ts'
import { chunkCid, MapChunkSource, makeChunks, pseudoRandomBytes } from '../helpers/chunks.ts'
import { connectedPairEachTest } from '../helpers/libp2p.ts'

const pair = connectedPairEachTest({ beforeEach, afterEach })

async function serve(source: MapChunkSource, policy: ServePolicy = {}): Promise<ChunkServer> {
  return registerChunkProtocol(pair.server, source, policy)
}

function codeOf(err: unknown): string | undefined {
  return err instanceof BwnodeError ? err.code : undefined
}

describe('chunk protocol over libp2p', () => {
  it('answers 64 pipelined gets on one stream, byte-correct', async () => {
    const chunks = await makeChunks(64, (i) => 16 * 1024 + i * 3_001)
    await serve(new MapChunkSource(chunks))
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    let maxInFlight = 0
    const results = await Promise.all(
      chunks.map(async (c) => {
        const p = session.get(c.cid)
        maxInFlight = Math.max(maxInFlight, session.inFlight)
        return p
      }),
    )
    expect(maxInFlight).toBe(64)
    for (const [i, bytes] of results.entries()) {
      expect(Buffer.from(bytes).equals(Buffer.from((chunks[i] as { bytes: Uint8Array }).bytes))).toBe(true)
    }
    expect(session.inFlight).toBe(0)
    await session.close()
  })

  it('sends chunks in muxer frames of at most 256 KiB however far the window grew, so a chunk is never held back behind the next one', async () => {
    const chunks = await makeChunks(8, () => 1024 * 1024)
    await serve(new MapChunkSource(chunks))
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const stream = pair.client
      .getConnections(pair.server.peerId)
      .flatMap((c) => c.streams)
      .find((s) => s.protocol === CHUNK_PROTOCOL)
    expect(stream).toBeDefined()
    // Each 'message' on a muxed stream is one muxer data frame, handed on only once it is whole.
    let largest = 0
    stream!.addEventListener('message', (evt) => {
      largest = Math.max(largest, evt.data.byteLength)
    })
    const got = await Promise.all(chunks.map((c) => session.get(c.cid)))
    expect(got.map((b) => b.byteLength)).toEqual(chunks.map(() => 1024 * 1024))
    expect(largest).toBeGreaterThan(0)
    expect(largest).toBeLessThanOrEqual(MUXER_FRAME_BYTES)
    await session.close()
  })

  it('grants receive window in halves, not after every data frame (fewer WINDOW_UPDATEs for the sender to decrypt and handle)', async () => {
    const chunks = await makeChunks(16, () => 1024 * 1024)
    await serve(new MapChunkSource(chunks))
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const chunkStream = (node: typeof pair.client, peer: typeof pair.server.peerId) =>
      node
        .getConnections(peer)
        .flatMap((c) => c.streams)
        .find((s) => s.protocol === CHUNK_PROTOCOL)
    await session.get(chunks[0]!.cid)
    const clientStream = chunkStream(pair.client, pair.server.peerId)
    const serverStream = chunkStream(pair.server, pair.client.peerId) as unknown as {
      handleWindowUpdate: (frame: unknown) => void
    }
    expect(typeof serverStream.handleWindowUpdate).toBe('function')
    let dataFrames = 0
    clientStream!.addEventListener('message', () => {
      dataFrames++
    })
    let windowUpdates = 0
    const handle = serverStream.handleWindowUpdate.bind(serverStream)
    serverStream.handleWindowUpdate = (frame) => {
      windowUpdates++
      handle(frame)
    }
    const got = await Promise.all(chunks.slice(1).map((c) => session.get(c.cid)))
    expect(got.every((b) => b.byteLength === 1024 * 1024)).toBe(true)
    // yamux alone answers every data frame with an update: as many updates as frames.
    expect(dataFrames).toBeGreaterThanOrEqual(15 * 4)
    expect(windowUpdates).toBeLessThan(dataFrames / 4)
    await session.close()
  })

  it('does not send or charge a queued request the client cancelled', async () => {
    const chunks = await makeChunks(12, () => 64 * 1024)
    const charged: number[] = []
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let paced = 0
    await serve(new MapChunkSource(chunks), {
      beforeServe: (_peer, bytes) => {
        charged.push(bytes)
      },
      // The first chunk waits at the uplink, so the others stay queued long enough to be cancelled.
      pace: async () => {
        if (paced++ === 0) await gate
      },
    })
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const controllers = chunks.map(() => new AbortController())
    const pending = chunks.map((c, i) => session.get(c.cid, { signal: controllers[i]?.signal }))
    // Settle-watch them now: the withdrawn ones reject before the test looks at them.
    const outcomes = Promise.allSettled(pending)
    await new Promise((r) => setTimeout(r, 200))
    expect(charged).toHaveLength(1)
    for (const controller of controllers.slice(6)) controller.abort(new Error('not needed'))
    // Let the CANCEL frames reach the server before the first chunk leaves the uplink.
    await new Promise((r) => setTimeout(r, 100))
    release()
    const settled = await outcomes
    expect(settled.slice(0, 6).every((r) => r.status === 'fulfilled')).toBe(true)
    expect(settled.slice(6).every((r) => r.status === 'rejected')).toBe(true)
    // Six answered, six withdrawn while queued: only the six were charged and sent.
    expect(charged).toHaveLength(6)
    // The session stays usable after the cancellations.
    expect((await session.get(chunks[0]!.cid)).length).toBe(64 * 1024)
    await session.close()
  })

  it('queues requests beyond maxInFlight locally and still answers all', async () => {
    const chunks = await makeChunks(20, () => 1024)
    await serve(new MapChunkSource(chunks))
    const session = await ChunkSession.open(pair.client, pair.server.peerId, { maxInFlight: 4 })
    const pending = chunks.map((c) => session.get(c.cid))
    expect(session.inFlight).toBeLessThanOrEqual(4)
    expect(session.queued).toBeGreaterThan(0)
    const results = await Promise.all(pending)
    expect(results.map((b) => b.length)).toEqual(chunks.map(() => 1024))
    await session.close()
  })

  it('rejects corrupted chunk bytes with ERR_CHUNK_HASH_MISMATCH and keeps the session', async () => {
    const [good, bad] = await makeChunks(2, () => 4096)
    if (good === undefined || bad === undefined) throw new Error('no chunks')
    const source = new MapChunkSource([good])
    const corrupted = bad.bytes.slice()
    corrupted[100] = (corrupted[100] as number) ^ 0xff
    source.chunks.set(bad.cid.toString(), corrupted)
    await serve(source)
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const err = await session.get(bad.cid).catch((e: unknown) => e)
    expect(codeOf(err)).toBe(ChunkErrorCode.CHUNK_HASH_MISMATCH)
    expect(await session.get(good.cid)).toEqual(good.bytes)
    await session.close()
  })

  it('maps an unknown CID to ERR_NOT_FOUND', async () => {
    await serve(new MapChunkSource())
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const missing = await chunkCid(pseudoRandomBytes(10, 99))
    const err = await session.get(missing).catch((e: unknown) => e)
    expect(codeOf(err)).toBe(ChunkErrorCode.NOT_FOUND)
    const errHave = await session.have(missing).catch((e: unknown) => e)
    expect(codeOf(errHave)).toBe(ChunkErrorCode.NOT_FOUND)
    await session.close()
  })

  it('serves have-maps with the price, and manifests', async () => {
    const source = new MapChunkSource()
    const dataset = await chunkCid(pseudoRandomBytes(32, 7))
    const manifest = pseudoRandomBytes(10_000, 8)
    source.manifests.set(dataset.toString(), manifest)
    source.haveMaps.set(dataset.toString(), Uint8Array.of(0b1010_0000, 0xff))
    await serve(source, { price: () => 1.25 })
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const [have, man] = await Promise.all([session.have(dataset), session.manifest(dataset)])
    expect(have.pricePerGiB).toBe(1.25)
    expect([...have.bitfield]).toEqual([0b1010_0000, 0xff])
    expect(man).toEqual(manifest)
    await session.close()
  })

  it('delivers a payment-required refusal with its code, then serves once paid', async () => {
    const chunks = await makeChunks(3, () => 2048)
    let paid = false
    const policy: ServePolicy = {
      beforeServe: () => {
        if (!paid) throw new BwnodeError(ChunkErrorCode.PAYMENT_REQUIRED, 'settle your debt')
      },
      onVoucher: () => {
        paid = true
      },
    }
    await serve(new MapChunkSource(chunks), policy)
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const c0 = chunks[0] as { cid: CID; bytes: Uint8Array }
    const err = await session.get(c0.cid).catch((e: unknown) => e)
    expect(codeOf(err)).toBe(ChunkErrorCode.PAYMENT_REQUIRED)
    expect((err as Error).message).toBe('settle your debt')
    await session.pay(Uint8Array.of(1, 2, 3))
    expect(await session.get(c0.cid)).toEqual(c0.bytes)
    await session.close()
  })

  it('ends the session on ERR_PAYMENT_DISCONNECT', async () => {
    const chunks = await makeChunks(2, () => 2048)
    await serve(new MapChunkSource(chunks), {
      beforeServe: () => {
        throw new BwnodeError(ChunkErrorCode.PAYMENT_DISCONNECT, 'debt over the hard limit')
      },
    })
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const [a, b] = await Promise.allSettled(chunks.map((c) => session.get(c.cid)))
    expect(a?.status === 'rejected' && codeOf(a.reason)).toBe(ChunkErrorCode.PAYMENT_DISCONNECT)
    expect(b?.status).toBe('rejected')
    expect(session.closed).toBe(true)
  })

  it('on ERR_PAYMENT_DISCONNECT calls disconnect once, after the answer, and the peer still reads it', async () => {
    const chunks = await makeChunks(2, () => 2048)
    const disconnected: string[] = []
    await serve(new MapChunkSource(chunks), {
      beforeServe: () => {
        throw new BwnodeError(ChunkErrorCode.PAYMENT_DISCONNECT, 'debt over the hard limit')
      },
      // What a node does: drop the whole connection as soon as the hook is called.
      disconnect: async (peer) => {
        disconnected.push(peer.toString())
        await pair.server.hangUp(peer)
      },
    })
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const err = await session.get((chunks[0] as { cid: CID }).cid).catch((e: unknown) => e)
    expect(codeOf(err)).toBe(ChunkErrorCode.PAYMENT_DISCONNECT)
    expect((err as Error).message).toBe('debt over the hard limit')
    const deadline = Date.now() + 3_000
    while (pair.client.getConnections(pair.server.peerId).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(pair.client.getConnections(pair.server.peerId)).toHaveLength(0)
    expect(disconnected).toEqual([pair.client.peerId.toString()])
  })

  it('paces every chunk, reports served bytes, and credits vouchers from makeVoucher', async () => {
    const chunks = await makeChunks(8, (i) => 1000 + i)
    const paced: number[] = []
    const served: number[] = []
    const vouchers: string[] = []
    let voucherSeen!: () => void
    const allVouchers = new Promise<void>((resolve) => {
      voucherSeen = resolve
    })
    await serve(new MapChunkSource(chunks), {
      pace: async (bytes) => {
        paced.push(bytes)
      },
      onServed: (_peer, _cid, bytes) => served.push(bytes),
      onVoucher: (peer: PeerId, voucher) => {
        expect(peer.equals(pair.client.peerId)).toBe(true)
        vouchers.push(new TextDecoder().decode(voucher))
        if (vouchers.length === chunks.length) voucherSeen()
      },
    })
    const timings: number[] = []
    const session = await ChunkSession.open(pair.client, pair.server.peerId, {
      makeVoucher: (_peer, bytes) => new TextEncoder().encode(`paid:${bytes}`),
      onChunk: (_peer, _cid, bytes, timing) => {
        expect(timing.totalMs).toBeGreaterThanOrEqual(timing.ttfbMs)
        timings.push(bytes.length)
      },
    })
    await Promise.all(chunks.map((c) => session.get(c.cid)))
    await allVouchers
    const sizes = chunks.map((c) => c.bytes.length)
    expect(paced).toEqual(sizes)
    expect(served).toEqual(sizes)
    expect(timings.sort()).toEqual([...sizes].sort())
    expect(vouchers.sort()).toEqual(sizes.map((s) => `paid:${s}`).sort())
    await session.close()
  })

  it('refuses a stream with ERR_BUSY when admit() has no slot, and releases slots', async () => {
    const chunks = await makeChunks(1, () => 100)
    let slots = 1
    const released: number[] = []
    // The first stream's request waits on this gate, so its stream is busy (an idle one would give
    // its slot up: see chunk-session-pool.test.ts).
    const gate = Promise.withResolvers<void>()
    const source = new MapChunkSource(chunks)
    const gated = {
      getChunk: async (cid: CID) => {
        await gate.promise
        return source.getChunk(cid)
      },
      getManifestBytes: (cid: CID) => source.getManifestBytes(cid),
      haveMap: (cid: CID) => source.haveMap(cid),
    }
    const srv = await registerChunkProtocol(pair.server, gated, {
      admit: () => {
        if (slots === 0) return undefined
        slots--
        return () => {
          slots++
          released.push(Date.now())
        }
      },
    })
    const first = await ChunkSession.open(pair.client, pair.server.peerId)
    const c0 = chunks[0] as { cid: CID }
    const firstGet = first.get(c0.cid)
    await expect.poll(() => srv.heldRequests).toBe(1)
    const second = await ChunkSession.open(pair.client, pair.server.peerId)
    const err = await second.get(c0.cid).catch((e: unknown) => e)
    expect(codeOf(err)).toBe(ChunkErrorCode.BUSY)
    expect(srv.activeStreams).toBe(1)
    gate.resolve()
    await expect(firstGet).resolves.toBeInstanceOf(Uint8Array)
    await first.close()
    await expect.poll(() => released.length).toBe(1)
    expect(srv.activeStreams).toBe(0)
    const third = await ChunkSession.open(pair.client, pair.server.peerId)
    await expect(third.get(c0.cid)).resolves.toBeInstanceOf(Uint8Array)
    await third.close()
  })

  it('rejects an aborted get and keeps serving the rest of the pipeline', async () => {
    const chunks = await makeChunks(4, () => 64 * 1024)
    await serve(new MapChunkSource(chunks))
    const session = await ChunkSession.open(pair.client, pair.server.peerId)
    const controller = new AbortController()
    const pending = chunks.map((c, i) => session.get(c.cid, i === 1 ? { signal: controller.signal } : {}))
    controller.abort()
    const settled = await Promise.allSettled(pending)
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    expect(session.closed).toBe(false)
    await session.close()
  })

  it('uses the registered protocol id', () => {
    expect(CHUNK_PROTOCOL).toBe('/bwnode/chunk/1.0.0')
  })
})
