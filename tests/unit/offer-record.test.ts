import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createOffer,
  createOfferValidator,
  decodeOffer,
  encodeOffer,
  MAX_OFFER_BYTES,
  OFFERS_CID,
  OfferError,
  type OfferFields,
  offerKey,
  offerSelector,
  peerIdFromOfferKey,
  verifyOffer,
} from '../../src/protocols/offer/index.ts'

const NOW = 1_700_000_000_000
const validate = createOfferValidator({ clock: () => NOW })

function fields(overrides: Partial<OfferFields> = {}): OfferFields {
  return {
    uplinkMbps: 20,
    maxConcurrent: 4,
    pricePerGiB: 1.0,
    coordinate: { x: 1.5, y: -3, height: 8, error: 0.2 },
    addrs: ['/ip4/127.0.0.1/tcp/4001'],
    issuedAt: NOW - 1000,
    expiresAt: NOW + 60_000,
    ...overrides,
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, `expected ${code}`).toBeInstanceOf(OfferError)
  expect((err as OfferError).code).toBe(code)
}

let alice: PrivateKey
let bob: PrivateKey

beforeAll(async () => {
  alice = await generateKeyPair('Ed25519')
  bob = await generateKeyPair('Ed25519')
})

describe('offer records', () => {
  it('round-trips and validates under its own key', async () => {
    const signed = await createOffer(alice, fields())
    const bytes = encodeOffer(signed)
    expect(bytes.length).toBeLessThan(MAX_OFFER_BYTES)
    const decoded = decodeOffer(bytes)
    expect(decoded.offer).toEqual(signed.offer)
    expect(encodeOffer(decoded)).toEqual(bytes)
    const aliceId = peerIdFromPrivateKey(alice)
    expect(decoded.offer.peerId).toBe(aliceId.toString())
    await validate(offerKey(aliceId), bytes)
    await verifyOffer(decoded, NOW)
    expect(peerIdFromOfferKey(offerKey(aliceId)).equals(aliceId)).toBe(true)
    expect(new TextDecoder().decode(offerKey(aliceId).subarray(0, 9))).toBe('/bwoffer/')
  })

  it('carries lending limits only when given, and round-trips them', async () => {
    const plain = await createOffer(alice, fields())
    expect(new TextDecoder().decode(encodeOffer(plain))).not.toContain('lending')
    for (const lending of [
      { open: true },
      { open: true, until: NOW + 3_600_000, remainingBytes: 5 * 2 ** 30 },
      { open: false, until: NOW + 60_000 },
    ]) {
      const signed = await createOffer(alice, fields({ lending }))
      const decoded = decodeOffer(encodeOffer(signed))
      expect(decoded.offer.lending).toEqual(lending)
      expect(encodeOffer(decoded)).toEqual(encodeOffer(signed))
      await validate(offerKey(peerIdFromPrivateKey(alice)), encodeOffer(signed))
    }
    for (const lending of [
      { until: NOW },
      { open: 'yes' },
      { open: true, remainingBytes: -1 },
      { open: true, x: 1 },
    ]) {
      await rejectsWith(
        createOffer(alice, fields({ lending: lending as unknown as OfferFields['lending'] })),
        'ERR_OFFER_MALFORMED',
      )
    }
  })

  it('has a stable well-known CID', () => {
    expect(OFFERS_CID.version).toBe(1)
    expect(OFFERS_CID.code).toBe(0x55)
    expect(OFFERS_CID.multihash.code).toBe(0x12)
    expect(OFFERS_CID.toString()).toBe(OFFERS_CID.toString())
  })

  it('rejects a forged signature', async () => {
    const bytes = encodeOffer(await createOffer(alice, fields()))
    const forged = bytes.slice()
    forged[forged.length - 1]! ^= 0x01
    await rejectsWith(
      Promise.resolve(validate(offerKey(peerIdFromPrivateKey(alice)), forged)),
      'ERR_OFFER_BAD_SIGNATURE',
    )
    // A body edited after signing (more uplink than was signed) does not verify either.
    const signed = await createOffer(alice, fields())
    const tampered = encodeOffer({ ...signed, offer: { ...signed.offer, uplinkMbps: 1000 } })
    await rejectsWith(
      Promise.resolve(validate(offerKey(peerIdFromPrivateKey(alice)), tampered)),
      'ERR_OFFER_BAD_SIGNATURE',
    )
  })

  it("rejects an offer stored under another peer's key, or signed by someone else in its name", async () => {
    const bytes = encodeOffer(await createOffer(alice, fields()))
    await rejectsWith(
      Promise.resolve(validate(offerKey(peerIdFromPrivateKey(bob)), bytes)),
      'ERR_OFFER_KEY_MISMATCH',
    )
    // Bob signs a body naming Alice: the signature is checked against Alice's key.
    const bobs = await createOffer(bob, fields())
    const impersonation = encodeOffer({
      offer: { ...bobs.offer, peerId: peerIdFromPrivateKey(alice).toString() },
      signature: bobs.signature,
    })
    await rejectsWith(
      Promise.resolve(validate(offerKey(peerIdFromPrivateKey(alice)), impersonation)),
      'ERR_OFFER_BAD_SIGNATURE',
    )
  })

  it('rejects expired, future, unsigned, oversized and malformed offers', async () => {
    const key = offerKey(peerIdFromPrivateKey(alice))
    const expired = encodeOffer(
      await createOffer(alice, fields({ issuedAt: NOW - 120_000, expiresAt: NOW - 1 })),
    )
    await rejectsWith(Promise.resolve(validate(key, expired)), 'ERR_OFFER_EXPIRED')
    const future = encodeOffer(
      await createOffer(alice, fields({ issuedAt: NOW + 3_600_000, expiresAt: NOW + 7_200_000 })),
    )
    await rejectsWith(Promise.resolve(validate(key, future)), 'ERR_OFFER_NOT_YET_VALID')

    const good = encodeOffer(await createOffer(alice, fields()))
    const bodyLength = new DataView(good.buffer).getUint16(4)
    await rejectsWith(Promise.resolve(validate(key, good.subarray(0, 6 + bodyLength))), 'ERR_OFFER_MALFORMED')
    await rejectsWith(
      Promise.resolve(validate(key, new Uint8Array(MAX_OFFER_BYTES + 1))),
      'ERR_OFFER_TOO_LARGE',
    )
    await rejectsWith(
      Promise.resolve(validate(key, new TextEncoder().encode('{"peerId":"x"}'))),
      'ERR_OFFER_MALFORMED',
    )
    await rejectsWith(
      Promise.resolve(validate(new TextEncoder().encode('/bwoffer/zz'), good)),
      'ERR_OFFER_BAD_KEY',
    )

    await expect(createOffer(alice, fields({ addrs: ['not a multiaddr'] }))).rejects.toThrow(OfferError)
    await expect(createOffer(alice, fields({ maxConcurrent: 0 }))).rejects.toThrow(OfferError)
    await expect(createOffer(alice, fields({ uplinkMbps: Number.NaN }))).rejects.toThrow(OfferError)
    await expect(createOffer(alice, fields({ expiresAt: NOW - 2000 }))).rejects.toThrow(OfferError)
    const tooMany = Array.from({ length: 17 }, (_, i) => `/ip4/127.0.0.1/tcp/${4000 + i}`)
    await expect(createOffer(alice, fields({ addrs: tooMany }))).rejects.toThrow(OfferError)
  })

  it('never throws anything but OfferError on arbitrary or mutated input (fuzz)', async () => {
    const key = offerKey(peerIdFromPrivateKey(alice))
    const good = encodeOffer(await createOffer(alice, fields()))
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 8,
      })
      .map((flips) => {
        const copy = good.slice()
        for (const [i, x] of flips) copy[i]! ^= x
        return copy
      })
    const truncated = fc.nat({ max: good.length - 1 }).map((n) => good.slice(0, n))
    const random = fc.uint8Array({ maxLength: MAX_OFFER_BYTES + 64 })
    const withMagic = fc
      .uint8Array({ maxLength: 600 })
      .map((b) => new Uint8Array([...good.subarray(0, 6), ...b]))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(mutated, truncated, random, withMagic),
        fc.uint8Array({ maxLength: 48 }),
        async (value, junkKey) => {
          for (const k of [key, junkKey]) {
            try {
              await validate(k, value)
            } catch (err) {
              if (!(err instanceof OfferError)) throw err
            }
          }
          try {
            decodeOffer(value)
          } catch (err) {
            if (!(err instanceof OfferError)) throw err
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it('selector picks the newest offer and never a broken one', async () => {
    const key = offerKey(peerIdFromPrivateKey(alice))
    const old = encodeOffer(await createOffer(alice, fields({ issuedAt: NOW - 5000 })))
    const mid = encodeOffer(await createOffer(alice, fields({ issuedAt: NOW - 3000 })))
    const newest = encodeOffer(await createOffer(alice, fields({ issuedAt: NOW - 1000 })))
    const garbage = new Uint8Array([1, 2, 3])
    expect(await offerSelector(key, [old, newest, mid])).toBe(1)
    expect(await offerSelector(key, [garbage, old, mid])).toBe(2)
    expect(await offerSelector(key, [newest, garbage])).toBe(0)
    expect(await offerSelector(key, [mid, newest])).toBe(1)
  })
})
