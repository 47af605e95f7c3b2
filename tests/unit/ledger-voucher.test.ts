import type { PrivateKey } from '@libp2p/interface'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { ProtocolError } from '../../src/errors/index.ts'
import {
  BYTES_PER_GIB,
  creditsForBytes,
  decodeVoucher,
  encodeVoucher,
  formatCredits,
  MAX_VOUCHER_BYTES,
  newChannelId,
  signVoucher,
  type Voucher,
  type VoucherFields,
  verifyVoucherSignature,
  voucherSigningBytes,
} from '../../src/ledger/index.ts'
import { newIdentity } from '../helpers/ledger.ts'

type Identity = Awaited<ReturnType<typeof newIdentity>>
let ids: Identity[] = []
let sample: Voucher
let sampleBytes: Uint8Array

function fieldsArb(): fc.Arbitrary<{
  payer: number
  payee: number
  fields: Omit<VoucherFields, 'payer' | 'payee'>
}> {
  const u = fc.maxSafeNat()
  return fc.record({
    payer: fc.nat({ max: ids.length - 1 }),
    payee: fc.nat({ max: ids.length - 1 }),
    fields: fc.record({
      channelId: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
      sequence: u,
      cumulativeBytes: u,
      cumulativeCredits: u,
      pricePerGiB: u,
      timeMs: u,
    }),
  })
}

function expectMalformed(bytes: Uint8Array): void {
  let thrown: unknown
  try {
    decodeVoucher(bytes)
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(ProtocolError)
  expect((thrown as ProtocolError).code).toBe('ERR_VOUCHER_MALFORMED')
}

beforeAll(async () => {
  ids = await Promise.all([newIdentity(), newIdentity(), newIdentity()])
  sample = await signVoucher(ids[0]!.key, {
    payer: ids[0]!.id,
    payee: ids[1]!.id,
    channelId: newChannelId(),
    sequence: 7,
    cumulativeBytes: 5 * 2 ** 20,
    cumulativeCredits: creditsForBytes(5 * 2 ** 20, 1_000_000),
    pricePerGiB: 1_000_000,
    timeMs: 1_700_000_000_000,
  })
  sampleBytes = encodeVoucher(sample)
})

describe('creditsForBytes', () => {
  it('is the exact ceiling of bytes × price / 2^30', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 45 }), fc.nat({ max: 2 ** 24 }), (bytes, price) => {
        const credits = BigInt(creditsForBytes(bytes, price))
        const owed = BigInt(bytes) * BigInt(price)
        const gib = BigInt(BYTES_PER_GIB)
        expect(credits * gib >= owed).toBe(true)
        expect(credits === 0n || (credits - 1n) * gib < owed).toBe(true)
      }),
    )
  })

  it('never decreases as bytes grow, so cumulative vouchers never owe less', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 30 }),
        fc.nat({ max: 10_000_000 }),
        (a, extra, price) => {
          expect(creditsForBytes(a + extra, price)).toBeGreaterThanOrEqual(creditsForBytes(a, price))
        },
      ),
    )
  })

  it('charges one credit for one GiB at one credit per GiB, and rejects non-integers', () => {
    expect(creditsForBytes(BYTES_PER_GIB, 1_000_000)).toBe(1_000_000)
    expect(creditsForBytes(1, 1_000_000)).toBe(1)
    expect(creditsForBytes(0, 1_000_000)).toBe(0)
    expect(() => creditsForBytes(1.5, 1)).toThrow(RangeError)
    expect(() => creditsForBytes(-1, 1)).toThrow(RangeError)
    expect(formatCredits(1_500_000)).toBe('1.5')
    expect(formatCredits(42)).toBe('0.000042')
  })
})

describe('voucher codec', () => {
  it('round-trips any fields, within MAX_VOUCHER_BYTES, and the signature verifies', async () => {
    await fc.assert(
      fc.asyncProperty(fieldsArb(), async ({ payer, payee, fields }) => {
        const signer = ids[payer]!
        const voucher = await signVoucher(signer.key, { ...fields, payer: signer.id, payee: ids[payee]!.id })
        const bytes = encodeVoucher(voucher)
        expect(bytes.length).toBeLessThanOrEqual(MAX_VOUCHER_BYTES)
        const decoded = decodeVoucher(bytes)
        expect(decoded).toEqual(voucher)
        expect(await verifyVoucherSignature(decoded)).toBe(true)
        expect(encodeVoucher(decoded)).toEqual(bytes)
      }),
      { numRuns: 200 },
    )
  })

  it('encodes an Ed25519 voucher in 200 bytes', () => {
    expect(sampleBytes.length).toBe(200)
  })

  it('signs over the domain-separated body, not the bare fields', () => {
    const signing = voucherSigningBytes(sample)
    expect(Buffer.from(signing.subarray(0, 18)).toString('latin1')).toBe('bwnode-voucher-v1\0')
    // The body after the domain is the wire form without its signature.
    expect(Buffer.from(signing.subarray(18))).toEqual(Buffer.from(sampleBytes.subarray(0, 200 - 65)))
  })

  it('makes any single-byte change either malformed or unverifiable (every position)', async () => {
    for (let at = 0; at < sampleBytes.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const tampered = Uint8Array.from(sampleBytes)
        tampered[at] = tampered[at]! ^ flip
        let decoded: Voucher | undefined
        try {
          decoded = decodeVoucher(tampered)
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError)
          expect((err as ProtocolError).code).toBe('ERR_VOUCHER_MALFORMED')
        }
        if (decoded !== undefined)
          expect(await verifyVoucherSignature(decoded), `byte ${at} ^ ${flip}`).toBe(false)
      }
    }
  })

  it('makes any single-byte change to any voucher malformed or unverifiable (random)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fieldsArb(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async ({ payer, payee, fields }, position, delta) => {
          const signer = ids[payer]!
          const voucher = await signVoucher(signer.key, {
            ...fields,
            payer: signer.id,
            payee: ids[payee]!.id,
          })
          const bytes = encodeVoucher(voucher)
          const at = position % bytes.length
          bytes[at] = (bytes[at]! + delta) % 256
          let decoded: Voucher
          try {
            decoded = decodeVoucher(bytes)
          } catch (err) {
            expect((err as ProtocolError).code).toBe('ERR_VOUCHER_MALFORMED')
            return
          }
          expect(await verifyVoucherSignature(decoded)).toBe(false)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('turns any garbage into ProtocolError ERR_VOUCHER_MALFORMED and nothing else', async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_VOUCHER_BYTES + 40 }), (garbage) =>
        expectMalformed(garbage),
      ),
      { numRuns: 2000 },
    )
    // Garbage that starts like a voucher gets further into the parser; if it parses, it is not signed.
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 199 }), fc.uint8Array({ maxLength: 120 }), async (keep, tail) => {
        const bytes = new Uint8Array([...sampleBytes.subarray(0, keep), ...tail])
        if (Buffer.from(bytes).equals(Buffer.from(sampleBytes))) return
        let decoded: Voucher
        try {
          decoded = decodeVoucher(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError)
          expect((err as ProtocolError).code).toBe('ERR_VOUCHER_MALFORMED')
          return
        }
        expect(await verifyVoucherSignature(decoded)).toBe(false)
      }),
      { numRuns: 2000 },
    )
  })

  it('rejects truncation, trailing bytes, oversize input, unknown versions and u64 past 2^53', () => {
    for (let length = 0; length < sampleBytes.length; length++)
      expectMalformed(sampleBytes.subarray(0, length))
    expectMalformed(new Uint8Array([...sampleBytes, 0]))
    expectMalformed(new Uint8Array(MAX_VOUCHER_BYTES + 1))
    const version = Uint8Array.from(sampleBytes)
    version[0] = 2
    expectMalformed(version)
    // The sequence field starts after version, two length-prefixed 38-byte ids and the 16-byte channel id.
    const huge = Uint8Array.from(sampleBytes)
    huge.fill(0xff, 1 + 39 + 39 + 16, 1 + 39 + 39 + 16 + 8)
    expectMalformed(huge)
    expect(() => decodeVoucher('not bytes' as unknown as Uint8Array)).toThrow(ProtocolError)
  })

  it('refuses to encode bad fields and to sign with a key that is not the payer', async () => {
    expect(() => encodeVoucher({ ...sample, channelId: 'xyz' })).toThrow(ProtocolError)
    expect(() => encodeVoucher({ ...sample, sequence: -1 })).toThrow(ProtocolError)
    expect(() => encodeVoucher({ ...sample, payee: 'not-a-peer' })).toThrow(ProtocolError)
    expect(() => encodeVoucher({ ...sample, signature: new Uint8Array(0) })).toThrow(ProtocolError)
    await expect(signVoucher(ids[1]!.key as PrivateKey, sample)).rejects.toMatchObject({
      code: 'ERR_VOUCHER_SIGNER',
    })
  })

  it('does not verify a voucher signed by another key under the payer id', async () => {
    const forged: Voucher = { ...sample, signature: await ids[2]!.key.sign(voucherSigningBytes(sample)) }
    expect(await verifyVoucherSignature(decodeVoucher(encodeVoucher(forged)))).toBe(false)
    expect(await verifyVoucherSignature({ ...sample, cumulativeBytes: sample.cumulativeBytes + 1 })).toBe(
      false,
    )
    expect(await verifyVoucherSignature(sample)).toBe(true)
  })
})
