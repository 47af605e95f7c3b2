import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ChunkSession, registerChunkProtocol } from '../../src/protocols/chunk/index.ts'
import { ChunkSessionPool } from '../../src/protocols/chunk/session-pool.ts'
import { MapChunkSource, makeChunks } from '../helpers/chunks.ts'
import { connectedPairEachTest } from '../helpers/libp2p.ts'

/** Warm chunk sessions between fetches, over real libp2p streams on 127.0.0.1. */

const pair = connectedPairEachTest({ beforeEach, afterEach })

describe('ChunkSessionPool', () => {
  it('hands a returned session to the next lease, with the new lease’s hooks only', async () => {
    const chunks = await makeChunks(4, () => 64 * 1024)
    await registerChunkProtocol(pair.server, new MapChunkSource(chunks))
    const pool = new ChunkSessionPool(pair.client)
    const seen: string[] = []
    const first = await pool.acquire(pair.server.peerId, { onChunk: () => seen.push('first') })
    expect(first.fresh).toBe(true)
    await first.session.get(chunks[0]!.cid)
    await pool.release(first.session)
    expect(pool.size).toBe(1)

    const second = await pool.acquire(pair.server.peerId, { onChunk: () => seen.push('second') })
    expect(second.fresh).toBe(false)
    expect(second.session).toBe(first.session)
    await second.session.get(chunks[1]!.cid)
    expect(seen).toEqual(['first', 'second'])
    // a concurrent user of the same peer gets a stream of its own
    const third = await pool.acquire(pair.server.peerId, {})
    expect(third.fresh).toBe(true)
    // one idle session per peer is kept (each holds one of the server's slots); the other closes
    await pool.release(second.session)
    await pool.release(third.session)
    expect(pool.size).toBe(1)
    expect(third.session.closed).toBe(true)
    await pool.close()
    expect(pool.size).toBe(0)
    expect(second.session.closed).toBe(true)
    expect(pool.opened).toBe(2)
    expect(pool.reused).toBe(1)
  })

  it('pools a session once its cancelled request is answered, and never a failed one', async () => {
    const chunks = await makeChunks(2, () => 256 * 1024)
    await registerChunkProtocol(pair.server, new MapChunkSource(chunks))
    const pool = new ChunkSessionPool(pair.client)
    const { session } = await pool.acquire(pair.server.peerId, {})
    const controller = new AbortController()
    const pending = session.get(chunks[0]!.cid, { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    await pool.release(session)
    expect(session.inFlight).toBe(0)
    expect(pool.size).toBe(1)

    const again = await pool.acquire(pair.server.peerId, {})
    expect(again.fresh).toBe(false)
    again.session.abort()
    await pool.release(again.session)
    expect(pool.size).toBe(0)
    await pool.close()
  })

  it('lets a server at its stream limit take back an idle pooled stream for a client with work', async () => {
    const chunks = await makeChunks(2, () => 16 * 1024)
    let slots = 1
    await registerChunkProtocol(pair.server, new MapChunkSource(chunks), {
      admit: () => {
        if (slots === 0) return undefined
        slots--
        return () => {
          slots++
        }
      },
    })
    const pool = new ChunkSessionPool(pair.client)
    const idle = await pool.acquire(pair.server.peerId, {})
    await idle.session.get(chunks[0]!.cid)
    await pool.release(idle.session)
    expect(pool.size).toBe(1)
    // another session (another fetch, or another client) finds the only slot held by the idle one
    const other = await ChunkSession.open(pair.client, pair.server.peerId)
    expect(await other.get(chunks[1]!.cid)).toEqual(chunks[1]!.bytes)
    await other.close()
    // the pooled session was ended by the server; the pool does not hand it out again
    await expect.poll(() => idle.session.closed).toBe(true)
    const next = await pool.acquire(pair.server.peerId, {})
    expect(next.fresh).toBe(true)
    await pool.release(next.session)
    await pool.close()
  })
})
