import crypto, { type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

/**
 * Noise's default crypto with one cost taken out of the transport messages: node's
 * createCipheriv/createDecipheriv with a raw key builds and checks a fresh secret KeyObject for
 * every message (up to 64 KiB each), which was ~6% of a fetching node's CPU profile on loopback.
 * A connection's two cipher keys never change (noise's CipherState keeps one `k` per direction),
 * so each key's KeyObject is made once and kept beside it. Payloads below NODE_FROM_BYTES stay
 * on noise's own choice (its WebAssembly ChaCha20-Poly1305 is faster for small ones).
 */
const NODE_FROM_BYTES = 1200
const CHACHA20_POLY1305 = 'chacha20-poly1305'
const TAG_BYTES = 16

/** The KeyObject made for a key array, with the bytes it was made from (in case they change). */
const keys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>()

function keyObjectFor(k: Uint8Array): KeyObject {
  const known = keys.get(k)
  if (known !== undefined && equalBytes(known.bytes, k)) return known.key
  const key = crypto.createSecretKey(k)
  keys.set(k, { bytes: Uint8Array.from(k), key })
  return key
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export const bwnodeNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    if (plaintext.byteLength < NODE_FROM_BYTES)
      return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = crypto.createCipheriv(CHACHA20_POLY1305, keyObjectFor(k), nonce, {
      authTagLength: TAG_BYTES,
    })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const out = new Uint8ArrayList()
    if (plaintext instanceof Uint8Array) out.append(cipher.update(plaintext))
    else for (const part of plaintext) out.append(cipher.update(part))
    const final = cipher.final()
    if (final.byteLength > 0) out.append(final)
    out.append(cipher.getAuthTag())
    return out
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < NODE_FROM_BYTES)
      return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const textBytes = ciphertext.byteLength - TAG_BYTES
    const decipher = crypto.createDecipheriv(CHACHA20_POLY1305, keyObjectFor(k), nonce, {
      authTagLength: TAG_BYTES,
    })
    decipher.setAAD(ad, { plaintextLength: textBytes })
    decipher.setAuthTag(ciphertext.subarray(textBytes))
    if (ciphertext instanceof Uint8Array) {
      const text = decipher.update(ciphertext.subarray(0, textBytes))
      const final = decipher.final()
      return final.byteLength === 0 ? text : Buffer.concat([text, final])
    }
    const out = new Uint8ArrayList()
    for (const part of ciphertext.sublist(0, textBytes)) out.append(decipher.update(part))
    const final = decipher.final()
    if (final.byteLength > 0) out.append(final)
    return out
  },
}
