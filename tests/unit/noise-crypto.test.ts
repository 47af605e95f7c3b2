import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { bwnodeNoiseCrypto } from '../../src/node/noise-crypto.ts'

/** Plain Uint8Array copies: Buffer and Uint8Array with the same bytes are not equal to toEqual. */
const bytesOf = (x: Uint8Array | Uint8ArrayList): Uint8Array =>
  Uint8Array.from(x instanceof Uint8Array ? x : x.subarray())
const nonce = (n: number): Uint8Array => {
  const out = new Uint8Array(12)
  new DataView(out.buffer).setUint32(4, n, true)
  return out
}

/** Noise transport messages through bwnode's crypto must be byte-for-byte noise's own. */
describe('bwnode noise crypto', () => {
  const k = new Uint8Array(randomBytes(32))
  const ad = new Uint8Array(0)

  it('encrypts exactly as noise does, for small and large payloads, arrays and lists', () => {
    for (const size of [10, 1199, 1200, 65519]) {
      const text = new Uint8Array(randomBytes(size))
      const ours = bytesOf(bwnodeNoiseCrypto.chaCha20Poly1305Encrypt(text, nonce(size), ad, k))
      const theirs = bytesOf(defaultCrypto.chaCha20Poly1305Encrypt(text, nonce(size), ad, k))
      expect(ours).toEqual(theirs)
      const list = new Uint8ArrayList(text.subarray(0, size >> 1), text.subarray(size >> 1))
      expect(bytesOf(bwnodeNoiseCrypto.chaCha20Poly1305Encrypt(list, nonce(size), ad, k))).toEqual(theirs)
    }
  })

  it('decrypts what noise encrypted (also split in pieces) and refuses a forged tag', () => {
    for (const size of [10, 4096, 65519]) {
      const text = new Uint8Array(randomBytes(size))
      const sealed = bytesOf(defaultCrypto.chaCha20Poly1305Encrypt(text, nonce(7), ad, k))
      expect(bytesOf(bwnodeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce(7), ad, k))).toEqual(text)
      const pieces = new Uint8ArrayList(sealed.subarray(0, 1000), sealed.subarray(1000))
      expect(bytesOf(bwnodeNoiseCrypto.chaCha20Poly1305Decrypt(pieces, nonce(7), ad, k))).toEqual(text)
      const forged = Uint8Array.from(sealed)
      forged[forged.length - 1]! ^= 1
      expect(() => bwnodeNoiseCrypto.chaCha20Poly1305Decrypt(forged, nonce(7), ad, k)).toThrow()
    }
  })

  it('notices a key array whose bytes changed and uses the new key', () => {
    const key = new Uint8Array(randomBytes(32))
    const text = new Uint8Array(randomBytes(5000))
    bwnodeNoiseCrypto.chaCha20Poly1305Encrypt(text, nonce(1), ad, key)
    key.set(randomBytes(32))
    const ours = bytesOf(bwnodeNoiseCrypto.chaCha20Poly1305Encrypt(text, nonce(1), ad, key))
    expect(ours).toEqual(bytesOf(defaultCrypto.chaCha20Poly1305Encrypt(text, nonce(1), ad, key)))
  })
})
