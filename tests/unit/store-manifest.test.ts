import fc from 'fast-check'
import { base58btc } from 'multiformats/bases/base58'
import { describe, expect, it } from 'vitest'
import { BwnodeError } from '../../src/errors/index.ts'
import { ChunkFiles } from '../../src/store/chunk-files.ts'
import {
  checkChunkSize,
  chunkCid,
  chunkKey,
  countBits,
  createBitfield,
  decodeManifest,
  encodeManifest,
  getBit,
  isSafeRelativePath,
  MAX_MANIFEST_BYTES,
  type Manifest,
  manifestCid,
  setBit,
} from '../../src/store/index.ts'
import { selectFiles } from '../../src/store/manifest.ts'

const encoder = new TextEncoder()
const CHUNK_A = chunkCid(Uint8Array.of(1)).toString()
const CHUNK_B = chunkCid(Uint8Array.of(2)).toString()

function validManifest(): Manifest {
  return {
    version: 1,
    name: 'demo',
    chunkSize: 65536,
    files: [
      { path: 'a.bin', size: 65537, chunks: [CHUNK_A, CHUNK_B] },
      { path: 'dir/b.bin', size: 0, chunks: [] },
    ],
  }
}

/** Encodes with JSON.stringify directly, so tests can build manifests encodeManifest would never make. */
function rawBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(BwnodeError)
    expect((err as BwnodeError).code).toBe(code)
    return
  }
  expect.fail(`expected ${code}`)
}

describe('chunk size', () => {
  it('accepts 64 KiB to 4 MiB and rejects anything else with a clear code', () => {
    expect(checkChunkSize(64 * 1024)).toBe(65536)
    expect(checkChunkSize(4 * 1024 * 1024)).toBe(4194304)
    for (const bad of [65535, 4 * 1024 * 1024 + 1, 100_000.5, 0, -1, Number.NaN]) {
      expectCode(() => checkChunkSize(bad), 'ERR_INVALID_CHUNK_SIZE')
    }
  })
})

describe('manifest encoding', () => {
  it('round-trips and is deterministic with a fixed key order', () => {
    const manifest = validManifest()
    const bytes = encodeManifest(manifest)
    expect(decodeManifest(bytes)).toEqual(manifest)
    // key order in the input object does not change the bytes
    const shuffled = {
      files: manifest.files.map((f) => ({ chunks: f.chunks, size: f.size, path: f.path })),
      chunkSize: manifest.chunkSize,
      name: manifest.name,
      version: manifest.version,
    } as Manifest
    expect(encodeManifest(shuffled)).toEqual(bytes)
    expect(new TextDecoder().decode(bytes).startsWith('{"version":1,"name":"demo","chunkSize":65536,')).toBe(
      true,
    )
    expect(manifestCid(bytes).toString()).toBe(manifestCid(encodeManifest(validManifest())).toString())
    expect(manifestCid(bytes).code).toBe(0x0200)
  })

  it('rejects garbage bytes and wrong shapes', () => {
    for (const bytes of [
      new Uint8Array(0),
      Uint8Array.of(0xff, 0xfe, 0x00),
      encoder.encode('not json'),
      encoder.encode('null'),
      encoder.encode('[]'),
      rawBytes({ ...validManifest(), version: 2 }),
      rawBytes({ ...validManifest(), extra: true }),
      rawBytes({ ...validManifest(), name: '' }),
      rawBytes({ ...validManifest(), chunkSize: 1000 }),
      rawBytes({ ...validManifest(), files: [{ path: 'a', size: -1, chunks: [] }] }),
      rawBytes({ ...validManifest(), files: [{ path: 'a', size: 1.5, chunks: [CHUNK_A] }] }),
    ]) {
      expectCode(() => decodeManifest(bytes), 'ERR_INVALID_MANIFEST')
    }
  })

  it('rejects path traversal, absolute paths and other unsafe paths', () => {
    for (const path of ['../x', 'a/../../b', '/etc/passwd', 'a//b', './a', 'a/', 'a\\..\\b', 'a\0b', '']) {
      expect(isSafeRelativePath(path)).toBe(false)
      const manifest = { ...validManifest(), files: [{ path, size: 0, chunks: [] }] }
      expectCode(() => decodeManifest(rawBytes(manifest)), 'ERR_INVALID_MANIFEST')
    }
    expect(isSafeRelativePath('train/00001.jpg')).toBe(true)
    expect(isSafeRelativePath('..a/b..')).toBe(true)
  })

  it('rejects chunk counts that do not match size and chunk size', () => {
    const tooFew = validManifest()
    tooFew.files[0]!.chunks = [CHUNK_A]
    expectCode(() => decodeManifest(rawBytes(tooFew)), 'ERR_INVALID_MANIFEST')
    const tooMany = validManifest()
    tooMany.files[1]!.chunks = [CHUNK_A]
    expectCode(() => decodeManifest(rawBytes(tooMany)), 'ERR_INVALID_MANIFEST')
    const exact = validManifest()
    exact.files[0]!.size = 131072
    expect(decodeManifest(rawBytes(exact)).files[0]!.size).toBe(131072)
    exact.files[0]!.size = 131073
    expectCode(() => decodeManifest(rawBytes(exact)), 'ERR_INVALID_MANIFEST')
  })

  it('rejects bad chunk CIDs: wrong codec, CIDv0, non-canonical base, junk', () => {
    const jsonCid = manifestCid(Uint8Array.of(1)).toString()
    const v0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'
    const base58 = chunkCid(Uint8Array.of(1)).toString(base58btc)
    for (const bad of [jsonCid, v0, base58, 'bafy', 'x'.repeat(59)]) {
      const manifest = validManifest()
      manifest.files[0]!.chunks = [bad, CHUNK_B]
      expectCode(() => decodeManifest(rawBytes(manifest)), 'ERR_INVALID_MANIFEST')
    }
  })

  it('rejects duplicate, unsorted, and file-versus-directory paths', () => {
    const dup = { ...validManifest(), files: [validManifest().files[1], validManifest().files[1]] }
    const unsorted = { ...validManifest(), files: [...validManifest().files].reverse() }
    const clash = {
      ...validManifest(),
      files: [
        { path: 'dir', size: 0, chunks: [] },
        { path: 'dir/b.bin', size: 0, chunks: [] },
      ],
    }
    for (const manifest of [dup, unsorted, clash]) {
      expectCode(() => decodeManifest(rawBytes(manifest)), 'ERR_INVALID_MANIFEST')
    }
  })

  it('rejects a non-canonical encoding of a valid manifest', () => {
    const pretty = encoder.encode(JSON.stringify(validManifest(), null, 2))
    expectCode(() => decodeManifest(pretty), 'ERR_INVALID_MANIFEST')
  })

  it('rejects oversized manifests before parsing them', () => {
    const huge = new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x20)
    expectCode(() => decodeManifest(huge), 'ERR_MANIFEST_TOO_LARGE')
  })

  it('fuzz: arbitrary bytes never throw anything but a BwnodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeManifest(bytes)
        } catch (err) {
          return err instanceof BwnodeError
        }
        return true
      }),
      { numRuns: 500 },
    )
  })

  it('fuzz: arbitrary JSON values and mutated manifests never throw anything but a BwnodeError', () => {
    const mutated = fc.record({
      version: fc.oneof(fc.constant(1), fc.anything()),
      name: fc.oneof(fc.constant('n'), fc.string(), fc.anything()),
      chunkSize: fc.oneof(fc.constant(65536), fc.integer(), fc.double()),
      files: fc.array(
        fc.record({
          path: fc.oneof(fc.constantFrom('a', '../a', '/a', 'a/b'), fc.string()),
          size: fc.oneof(fc.nat(200_000), fc.integer(), fc.double()),
          chunks: fc.array(fc.oneof(fc.constantFrom(CHUNK_A, CHUNK_B), fc.string(), fc.anything()), {
            maxLength: 4,
          }),
        }),
        { maxLength: 4 },
      ),
    })
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), mutated), (value) => {
        let bytes: Uint8Array
        try {
          bytes = rawBytes(value)
        } catch {
          return true // not representable as JSON (e.g. a BigInt): nothing to decode
        }
        try {
          const manifest = decodeManifest(bytes)
          // whatever is accepted must be safe to export
          return manifest.files.every((f) => isSafeRelativePath(f.path))
        } catch (err) {
          return err instanceof BwnodeError
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('a selection of files', () => {
  const manifest: Manifest = {
    ...validManifest(),
    files: [
      { path: 'a.bin', size: 1, chunks: [CHUNK_A] },
      { path: 'dir/b.bin', size: 1, chunks: [CHUNK_B] },
      { path: 'dir/sub/c.bin', size: 0, chunks: [] },
      { path: 'dirt.bin', size: 0, chunks: [] },
    ],
  }
  const paths = (selection?: string[]) => selectFiles(manifest, selection).map((f) => f.path)

  it('is every file without one, and a folder is what is under it (not a name that starts alike)', () => {
    expect(paths()).toEqual(['a.bin', 'dir/b.bin', 'dir/sub/c.bin', 'dirt.bin'])
    expect(paths(['dir'])).toEqual(['dir/b.bin', 'dir/sub/c.bin'])
    expect(paths(['dir/'])).toEqual(['dir/b.bin', 'dir/sub/c.bin'])
  })

  it('keeps manifest order and names each file once, however it was asked', () => {
    expect(paths(['dirt.bin', 'dir/b.bin', 'dir', 'a.bin'])).toEqual([
      'a.bin',
      'dir/b.bin',
      'dir/sub/c.bin',
      'dirt.bin',
    ])
  })

  it('refuses a path that names nothing, saying which', () => {
    expectCode(() => selectFiles(manifest, ['a.bin', 'di']), 'ERR_NOT_FOUND')
    expect(() => selectFiles(manifest, ['nope'])).toThrow(/no file nope in dataset demo \(it has 4: a\.bin/)
  })
})

describe('bitfield', () => {
  it('puts bit i in byte i >> 3, most significant bit first', () => {
    const bits = createBitfield(10)
    expect(bits.length).toBe(2)
    setBit(bits, 0)
    setBit(bits, 9)
    expect([...bits]).toEqual([0x80, 0x40])
    expect(getBit(bits, 0)).toBe(true)
    expect(getBit(bits, 1)).toBe(false)
    expect(getBit(bits, 9)).toBe(true)
    expect(countBits(bits)).toBe(2)
    expect(() => setBit(bits, 16)).toThrow(RangeError)
  })
})

describe('chunk keys and file paths', () => {
  it('recognises every canonical chunk CID string and shards by the last digest byte', () => {
    const files = new ChunkFiles('/chunks')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const cid = chunkCid(bytes)
        const text = cid.toString()
        const digest = cid.multihash.digest
        const shard = (digest[digest.length - 1] ?? 0).toString(16).padStart(2, '0')
        return chunkKey(text) === text && files.pathOf(text) === `/chunks/${shard}/${text}`
      }),
      { numRuns: 300 },
    )
  })

  it('normalises other encodings of a chunk CID and rejects anything else', () => {
    const cid = chunkCid(Uint8Array.of(9))
    expect(chunkKey(cid.toString(base58btc))).toBe(cid.toString())
    expect(chunkKey(cid)).toBe(cid.toString())
    expectCode(() => chunkKey(manifestCid(Uint8Array.of(9)).toString()), 'ERR_INVALID_CID')
    expectCode(() => chunkKey('bafkrei'), 'ERR_INVALID_CID')
  })
})
