import type { CID as CIDType } from 'multiformats/cid'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { ChunkSource } from '../../src/protocols/chunk/types.ts'

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** A raw CIDv1 with a sha2-256 multihash of `bytes`, as the store makes them. */
export async function chunkCid(bytes: Uint8Array): Promise<CIDType> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

export interface TestChunk {
  cid: CIDType
  bytes: Uint8Array
}

export async function makeChunks(count: number, size: (i: number) => number): Promise<TestChunk[]> {
  const chunks: TestChunk[] = []
  for (let i = 0; i < count; i++) {
    const bytes = pseudoRandomBytes(size(i), i + 1)
    chunks.push({ cid: await chunkCid(bytes), bytes })
  }
  return chunks
}

/** A ChunkSource over Maps keyed by CID string; tests may put anything in them (even lies). */
export class MapChunkSource implements ChunkSource {
  readonly chunks = new Map<string, Uint8Array>()
  readonly manifests = new Map<string, Uint8Array>()
  readonly haveMaps = new Map<string, Uint8Array>()
  getChunkCalls = 0

  constructor(chunks: TestChunk[] = []) {
    for (const c of chunks) this.chunks.set(c.cid.toString(), c.bytes)
  }

  async getChunk(cid: CIDType): Promise<Uint8Array | undefined> {
    this.getChunkCalls++
    return this.chunks.get(cid.toString())
  }

  async getManifestBytes(datasetCid: CIDType): Promise<Uint8Array | undefined> {
    return this.manifests.get(datasetCid.toString())
  }

  async haveMap(datasetCid: CIDType): Promise<Uint8Array | undefined> {
    return this.haveMaps.get(datasetCid.toString())
  }
}
