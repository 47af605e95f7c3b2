import type { CID } from 'multiformats/cid'
import { BwnodeError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'

/** Multihash code of sha2-256. */
const SHA2_256 = 0x12

/**
 * Checks that `bytes` hash to the digest inside `cid`. Uses WebCrypto, which hashes on the
 * libuv thread pool, so verifying one chunk overlaps with receiving the next.
 */
export async function verifyChunk(cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.multihash.code !== SHA2_256) {
    throw new BwnodeError(
      ChunkErrorCode.UNSUPPORTED_HASH,
      `cannot verify multihash 0x${cid.multihash.code.toString(16)}`,
    )
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  if (!equalBytes(digest, cid.multihash.digest)) {
    throw new BwnodeError(ChunkErrorCode.CHUNK_HASH_MISMATCH, `chunk bytes do not match ${cid.toString()}`)
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
