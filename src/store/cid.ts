import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as json from 'multiformats/codecs/json'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'

/** Codec of a chunk CID (raw bytes). */
export const CHUNK_CODEC = raw.code
/** Codec of a dataset CID (the manifest, JSON). */
export const MANIFEST_CODEC = json.code

const SHA256_DIGEST_BYTES = 32

/** sha2-256 multihash of bytes; node's crypto is used directly so the call is synchronous. */
function sha256Digest(bytes: Uint8Array): Digest.Digest<typeof sha256.code, number> {
  return Digest.create(sha256.code, createHash('sha256').update(bytes).digest())
}

/** The CID of a chunk: CIDv1, raw codec, sha2-256. */
export function chunkCid(bytes: Uint8Array): CID {
  return CID.createV1(CHUNK_CODEC, sha256Digest(bytes))
}

/** The CID of a dataset: CIDv1 of the manifest bytes, json codec, sha2-256. */
export function manifestCid(bytes: Uint8Array): CID {
  return CID.createV1(MANIFEST_CODEC, sha256Digest(bytes))
}

/**
 * Parses a CID string (or passes a CID through) and checks it is the kind this
 * store uses: v1, the expected codec, sha2-256 with a 32-byte digest.
 * Throws BwnodeError(ERR.INVALID_CID) otherwise.
 */
export function parseCid(value: string | CID, codec: number, what = 'CID'): CID {
  let cid: CID
  if (typeof value === 'string') {
    try {
      cid = CID.parse(value)
    } catch {
      throw new BwnodeError(ERR.INVALID_CID, `${what} is not a valid CID: ${abbreviate(value)}`)
    }
  } else {
    const asCid = CID.asCID(value)
    if (asCid === null) throw new BwnodeError(ERR.INVALID_CID, `${what} is not a CID`)
    cid = asCid
  }
  if (
    cid.version !== 1 ||
    cid.code !== codec ||
    cid.multihash.code !== sha256.code ||
    cid.multihash.digest.byteLength !== SHA256_DIGEST_BYTES
  ) {
    throw new BwnodeError(
      ERR.INVALID_CID,
      `${what} must be a CIDv1 with codec 0x${codec.toString(16)} and sha2-256: ${abbreviate(cid.toString())}`,
    )
  }
  return cid
}

export function parseChunkCid(value: string | CID): CID {
  return parseCid(value, CHUNK_CODEC, 'chunk CID')
}

export function parseDatasetCid(value: string | CID): CID {
  return parseCid(value, MANIFEST_CODEC, 'dataset CID')
}

/** Keeps error messages short when a peer sends a huge string. */
function abbreviate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/**
 * Every canonical chunk CID string: 'b' (base32) then 'afkrei' (CIDv1, raw,
 * sha2-256, 32 bytes), a character carrying 3 digest bits, 50 more, and a last
 * character whose 2 padding bits are zero.
 */
const CANONICAL_CHUNK_KEY = /^bafkrei[a-h][a-z2-7]{50}[aeimquy4]$/

/**
 * The canonical string of a chunk CID, used as its index key and file name.
 * Canonical strings are recognised without decoding (the read path calls this
 * for every chunk); anything else is parsed, so other bases still work.
 */
export function chunkKey(value: string | CID): string {
  if (typeof value === 'string' && CANONICAL_CHUNK_KEY.test(value)) return value
  return parseChunkCid(value).toString()
}
