import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { BwnodeError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'

/** Multihash code of sha2-256. */
const SHA2_256 = 0x12

/**
 * Checks that `bytes` hash to the digest inside `cid`, on the event loop with createHash. (In
 * Node 24 WebCrypto's digest does not overlap with anything: it held the loop 1.22 ms per MiB,
 * copying its input first, against 0.78 ms for createHash. Hashing on a worker thread took the
 * loop's share to 0.07 ms per MiB but moved no end-to-end figure on a 2-core machine, where the
 * worker competes with both nodes for the same cores: docs/BENCHMARKS.md.)
 */
export async function verifyChunk(cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.multihash.code !== SHA2_256) {
    throw new BwnodeError(
      ChunkErrorCode.UNSUPPORTED_HASH,
      `cannot verify multihash 0x${cid.multihash.code.toString(16)}`,
    )
  }
  const digest = createHash('sha256').update(bytes).digest()
  if (!digest.equals(cid.multihash.digest)) {
    throw new BwnodeError(ChunkErrorCode.CHUNK_HASH_MISMATCH, `chunk bytes do not match ${cid.toString()}`)
  }
}
