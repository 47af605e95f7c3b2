import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/errors/index.ts'
import { ByteQueue } from '../../src/protocols/chunk/byte-queue.ts'
import {
  ChunkErrorCode,
  concatParts,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  PeerScore,
  type Response,
} from '../../src/protocols/chunk/index.ts'
import { encodeVarint, readVarint } from '../../src/protocols/chunk/varint.ts'
import { chunkCid, pseudoRandomBytes } from '../helpers/chunks.ts'

/** Strips the length prefix from an encoded frame and checks it matches the body length. */
function body(parts: Uint8Array[]): Uint8Array {
  const frame = concatParts(parts)
  const len = readVarint(frame, 0)
  if (len === undefined) throw new Error('no prefix')
  expect(frame.length).toBe(len.size + len.value)
  return frame.subarray(len.size)
}

describe('varint', () => {
  it('round-trips every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const enc = encodeVarint(n)
        expect(readVarint(enc, 0)).toEqual({ value: n, size: enc.length })
      }),
    )
  })

  it('rejects non-minimal encodings and reports incomplete ones', () => {
    expect(() => readVarint(Uint8Array.of(0x80, 0x00), 0)).toThrow(ProtocolError)
    expect(readVarint(Uint8Array.of(0x80), 0)).toBeUndefined()
  })
})

describe('messages', () => {
  it('round-trips requests', async () => {
    const cid = await chunkCid(pseudoRandomBytes(100, 1))
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.uint8Array({ minLength: 1 }),
        async (id, voucher) => {
          for (const type of ['get', 'have', 'manifest'] as const) {
            const decoded = decodeRequest(body(encodeRequest({ type, id, cid })))
            expect(decoded.type).toBe(type)
            expect(decoded.id).toBe(id)
            expect('cid' in decoded && decoded.cid.equals(cid)).toBe(true)
          }
          expect(decodeRequest(body(encodeRequest({ type: 'pay', id, voucher })))).toEqual({
            type: 'pay',
            id,
            voucher,
          })
        },
      ),
    )
  })

  it('round-trips responses', () => {
    const responses = fc.oneof(
      fc.record({ type: fc.constant('chunk' as const), id: fc.nat(), bytes: fc.uint8Array() }),
      fc.record({ type: fc.constant('manifest-reply' as const), id: fc.nat(), bytes: fc.uint8Array() }),
      fc.record({
        type: fc.constant('have-reply' as const),
        id: fc.nat(),
        pricePerGiB: fc.double({ min: 0, max: 1e12, noNaN: true }),
        bitfield: fc.uint8Array(),
      }),
      fc.record({ type: fc.constant('pay-ack' as const), id: fc.nat() }),
      fc.record({
        type: fc.constant('error' as const),
        id: fc.nat(),
        code: fc.constantFrom(...Object.values(ChunkErrorCode)),
        message: fc.string({ maxLength: 200 }),
      }),
    )
    fc.assert(
      fc.property(responses, (res) => {
        const decoded = decodeResponse(body(encodeResponse(res as Response)))
        expect(decoded).toEqual(res)
      }),
    )
  })

  it('turns any garbage into a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeRequest, decodeResponse]) {
          try {
            decode(bytes)
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError)
          }
        }
      }),
    )
  })

  it('never puts a malformed code on the wire', () => {
    const decoded = decodeResponse(
      body(encodeResponse({ type: 'error', id: 1, code: 'bad code!', message: 'x' })),
    )
    expect(decoded).toMatchObject({ type: 'error', code: ChunkErrorCode.INTERNAL })
  })
})

describe('ByteQueue', () => {
  it('returns the same bytes however the input was split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }),
        fc.array(fc.nat(60)),
        (parts, takes) => {
          const q = new ByteQueue()
          for (const p of parts) q.push(p, 0)
          const all = concatParts([new Uint8Array(0), ...parts])
          let offset = 0
          for (const t of takes) {
            const n = Math.min(t, q.byteLength)
            expect([...q.read(n)]).toEqual([...all.subarray(offset, offset + n)])
            offset += n
          }
          expect(q.byteLength).toBe(all.length - offset)
        },
      ),
    )
  })
})

describe('PeerScore', () => {
  it('drops a peer past the threshold and forgets old violations', async () => {
    let now = 0
    const score = new PeerScore({ dropThreshold: 3, windowMs: 1000, clock: { now: () => now } })
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const peer = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
    score.record(peer, 'a')
    score.record(peer, 'b')
    expect(score.shouldDrop(peer)).toBe(false)
    score.record(peer, 'c')
    expect(score.shouldDrop(peer)).toBe(true)
    now = 2000
    expect(score.count(peer)).toBe(0)
    expect(score.shouldDrop(peer)).toBe(false)
  })
})
