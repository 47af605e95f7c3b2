import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { BwnodeError } from '../../src/errors/index.ts'
import { ChunkFiles } from '../../src/store/chunk-files.ts'
import { ContentStore, chunkCid, getBit, manifestChunkList } from '../../src/store/index.ts'
import { Xoshiro128 } from '../../src/store/prng.ts'

const KiB = 1024
const SMALL_CHUNK = 64 * KiB

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bwnode-store-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

interface Opened {
  store: ContentStore
  db: Database
  dataDir: string
}

async function openStore(dataDir?: string): Promise<Opened> {
  const dir = dataDir ?? (await tempDir())
  const db = await openDatabase(dir)
  cleanups.push(() => db.close())
  let tick = 1_700_000_000_000
  const store = new ContentStore({ dataDir: dir, db, chunkSize: SMALL_CHUNK, now: () => tick++ })
  await store.start()
  return { store, db, dataDir: dir }
}

function randomBytes(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4))
  new Xoshiro128(seed).fill(words)
  return new Uint8Array(words.buffer, 0, size)
}

async function writeTree(root: string, files: Record<string, Uint8Array>): Promise<string> {
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(join(root, ...path.split('/').slice(0, -1)), { recursive: true })
    await writeFile(join(root, ...path.split('/')), bytes)
  }
  return root
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(BwnodeError)
  await expect(promise).rejects.toMatchObject({ code })
}

async function countChunkFiles(dataDir: string): Promise<number> {
  const root = join(dataDir, 'chunks')
  let count = 0
  for (const shard of await readdir(root)) {
    if (shard === 'tmp') continue
    count += (await readdir(join(root, shard))).length
  }
  return count
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

describe('ContentStore chunking', () => {
  it('splits at chunk boundaries: empty file, exact multiple, one byte over', async () => {
    const { store } = await openStore()
    const src = await writeTree(join(await tempDir(), 'boundaries'), {
      'empty.bin': new Uint8Array(0),
      'exact.bin': randomBytes(2 * SMALL_CHUNK, 1),
      'over.bin': randomBytes(2 * SMALL_CHUNK + 1, 2),
    })
    const info = await store.addPath(src)
    const manifest = (await store.getManifest(info.cid))!
    expect(manifest.files.map((f) => [f.path, f.size, f.chunks.length])).toEqual([
      ['empty.bin', 0, 0],
      ['exact.bin', 2 * SMALL_CHUNK, 2],
      ['over.bin', 2 * SMALL_CHUNK + 1, 3],
    ])
    const last = await store.getChunk(manifest.files[2]!.chunks[2]!)
    expect(last?.byteLength).toBe(1)
    const full = await store.getChunk(manifest.files[1]!.chunks[1]!)
    expect(full?.byteLength).toBe(SMALL_CHUNK)
    expect(info).toMatchObject({ name: 'boundaries', bytes: 4 * SMALL_CHUNK + 1, chunks: 5, complete: true })
  })

  it('chunks each file separately, so a small file is one short chunk', async () => {
    const { store } = await openStore()
    const dir = await tempDir()
    const sample = randomBytes(100_000, 3)
    await writeFile(join(dir, 'sample.jpg'), sample)
    const info = await store.addPath(join(dir, 'sample.jpg'), { chunkSize: 1024 * KiB, name: 'one' })
    const manifest = (await store.getManifest(info.cid))!
    expect(manifest.name).toBe('one')
    expect(manifest.files).toHaveLength(1)
    expect(manifest.files[0]!.path).toBe('sample.jpg')
    expect(manifest.files[0]!.chunks).toEqual([chunkCid(sample).toString()])
  })

  it('refuses a chunk size out of range', async () => {
    const { store } = await openStore()
    const dir = await tempDir()
    await writeFile(join(dir, 'f'), Uint8Array.of(1))
    await expectCode(store.addPath(join(dir, 'f'), { chunkSize: 1000 }), 'ERR_INVALID_CHUNK_SIZE')
    await expectCode(store.addPath(join(dir, 'missing')), 'ERR_NOT_FOUND')
  })

  it('gives the same dataset CID for the same input in two separate data dirs', async () => {
    const src = await writeTree(join(await tempDir(), 'same'), {
      'b/x.bin': randomBytes(150_000, 4),
      'a.bin': randomBytes(70_000, 5),
      'a-b.bin': randomBytes(10, 6),
    })
    const one = await openStore()
    const two = await openStore()
    const first = await one.store.addPath(src)
    const second = await two.store.addPath(src)
    expect(second.cid).toBe(first.cid)
    expect(await two.store.getManifestBytes(first.cid)).toEqual(await one.store.getManifestBytes(first.cid))
    // plain string order: '-' (0x2d) sorts before '.' (0x2e) and '/' (0x2f)
    expect((await one.store.getManifest(first.cid))!.files.map((f) => f.path)).toEqual([
      'a-b.bin',
      'a.bin',
      'b/x.bin',
    ])
    // adding again is idempotent and keeps the first addedAt
    const again = await one.store.addPath(src)
    expect(again).toEqual(first)
    expect(await one.store.list()).toEqual([first])
  })
})

describe('ContentStore chunks', () => {
  it('putChunk refuses bytes that do not hash to the CID and writes nothing', async () => {
    const { store, dataDir } = await openStore()
    const good = randomBytes(1000, 7)
    const cid = chunkCid(good)
    const bad = good.slice()
    bad[0] = (bad[0] ?? 0) ^ 1
    await expectCode(store.putChunk(cid, bad), 'ERR_CHUNK_HASH_MISMATCH')
    expect(await store.hasChunk(cid)).toBe(false)
    expect(await store.getChunk(cid)).toBeUndefined()
    await expect(stat(new ChunkFiles(join(dataDir, 'chunks')).pathOf(cid))).rejects.toMatchObject({
      code: 'ENOENT',
    })
    await store.putChunk(cid.toString(), good)
    expect(await store.hasChunk(cid)).toBe(true)
    expect(await store.getChunk(cid)).toEqual(good)
    await expectCode(store.putChunk('not-a-cid', good), 'ERR_INVALID_CID')
  })

  it('a leftover temp file from a crash is never seen as the chunk and is cleared on start', async () => {
    const { store, db, dataDir } = await openStore()
    const bytes = randomBytes(SMALL_CHUNK, 8)
    const cid = chunkCid(bytes)
    const files = new ChunkFiles(join(dataDir, 'chunks'))
    // what a crash half way through a write leaves behind
    await mkdir(files.tempDir, { recursive: true })
    await writeFile(join(files.tempDir, `${cid.toString()}.deadbeef`), bytes.subarray(0, 1000))
    expect(await store.hasChunk(cid)).toBe(false)
    expect(await store.getChunk(cid)).toBeUndefined()

    const restarted = new ContentStore({ dataDir, db })
    await restarted.start()
    expect(await readdir(files.tempDir)).toEqual([])
    await restarted.putChunk(cid, bytes)
    expect(await restarted.getChunk(cid)).toEqual(bytes)
    expect(await readdir(files.tempDir)).toEqual([])
  })

  it('treats a chunk file deleted behind its back as missing and fixes the index', async () => {
    const { store, dataDir } = await openStore()
    const src = await writeTree(join(await tempDir(), 'ds'), { 'f.bin': randomBytes(3 * SMALL_CHUNK, 9) })
    const info = await store.addPath(src)
    const chunks = manifestChunkList((await store.getManifest(info.cid))!)
    const victim = chunkCid((await store.getChunk(chunks[1]!))!)
    await rm(new ChunkFiles(join(dataDir, 'chunks')).pathOf(victim))

    expect(await store.getChunk(victim)).toBeUndefined()
    expect(await store.hasChunk(victim)).toBe(false)
    expect(await store.missingChunks(info.cid)).toEqual([victim.toString()])
    const bits = await store.haveMap(info.cid)
    expect([0, 1, 2].map((i) => getBit(bits, i))).toEqual([true, false, true])
  })

  it('verify reports corrupt chunks, drops them and marks the dataset incomplete', async () => {
    const { store, dataDir } = await openStore()
    const src = await writeTree(join(await tempDir(), 'ds'), { 'f.bin': randomBytes(2 * SMALL_CHUNK, 10) })
    const info = await store.addPath(src)
    expect(await store.verify(info.cid)).toEqual({ cid: info.cid, checked: 2, missing: [], corrupt: [] })
    const [first] = manifestChunkList((await store.getManifest(info.cid))!)
    const path = new ChunkFiles(join(dataDir, 'chunks')).pathOf(chunkCid((await store.getChunk(first!))!))
    await writeFile(path, randomBytes(SMALL_CHUNK, 11))

    const report = await store.verify(info.cid)
    expect(report.corrupt).toEqual([first])
    expect(report.checked).toBe(2)
    expect(await store.hasChunk(first!)).toBe(false)
    expect((await store.get(info.cid))?.complete).toBe(false)
    await expectCode(store.exportDataset(info.cid, join(await tempDir(), 'out')), 'ERR_CHUNK_MISSING')
  })
})

describe('ContentStore datasets', () => {
  it('exports byte-identical files and refuses an existing output path', async () => {
    const { store } = await openStore()
    const files = {
      'README.txt': new TextEncoder().encode('hello'),
      'data/empty.bin': new Uint8Array(0),
      'data/deep/big.bin': randomBytes(5 * SMALL_CHUNK + 123, 12),
    }
    const src = await writeTree(join(await tempDir(), 'ds'), files)
    const info = await store.addPath(src)
    const out = join(await tempDir(), 'out')
    const result = await store.exportDataset(info.cid, out)
    expect(result).toEqual({ path: out, files: 3, bytes: info.bytes })
    for (const path of Object.keys(files)) {
      expect(await sha256File(join(out, path))).toBe(await sha256File(join(src, path)))
    }
    await expect(stat(`${out}.partial`)).rejects.toMatchObject({ code: 'ENOENT' })
    await expectCode(store.exportDataset(info.cid, out), 'ERR_OUT_EXISTS')
  })

  it('an export that fails half way leaves neither the output nor the partial directory', async () => {
    const { store, dataDir } = await openStore()
    const src = await writeTree(join(await tempDir(), 'ds'), {
      'a.bin': randomBytes(SMALL_CHUNK, 13),
      'b.bin': randomBytes(SMALL_CHUNK, 14),
    })
    const info = await store.addPath(src)
    const lastChunk = manifestChunkList((await store.getManifest(info.cid))!)[1]!
    await rm(new ChunkFiles(join(dataDir, 'chunks')).pathOf(chunkCid((await store.getChunk(lastChunk))!)))
    const out = join(await tempDir(), 'out')
    await expectCode(store.exportDataset(info.cid, out), 'ERR_CHUNK_MISSING')
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(`${out}.partial`)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('remove keeps chunks another dataset still uses', async () => {
    const { store, dataDir } = await openStore()
    const shared = randomBytes(2 * SMALL_CHUNK, 15)
    const root = await tempDir()
    const srcA = await writeTree(join(root, 'A'), {
      'shared.bin': shared,
      'only-a.bin': randomBytes(100, 16),
    })
    const srcB = await writeTree(join(root, 'B'), {
      'shared.bin': shared,
      'only-b.bin': randomBytes(100, 17),
    })
    const a = await store.addPath(srcA)
    const b = await store.addPath(srcB)
    expect(await countChunkFiles(dataDir)).toBe(4) // 2 shared + 1 + 1, shared stored once

    const removed = await store.remove(a.cid)
    expect(removed).toEqual({ cid: a.cid, chunksDeleted: 1, bytesFreed: 100 })
    expect(await store.get(a.cid)).toBeUndefined()
    expect(await store.getManifestBytes(a.cid)).toBeUndefined()
    expect(await countChunkFiles(dataDir)).toBe(3)
    expect(await store.missingChunks(b.cid)).toEqual([])
    const out = join(await tempDir(), 'out')
    await store.exportDataset(b.cid, out)
    expect(await readFile(join(out, 'shared.bin'))).toEqual(Buffer.from(shared))

    await store.remove(b.cid)
    expect(await countChunkFiles(dataDir)).toBe(0)
    expect(await store.list()).toEqual([])
    await expectCode(store.remove(b.cid), 'ERR_DATASET_NOT_FOUND')
  })

  it('usage counts each stored chunk once, across adds, rewrites, removes and a restart', async () => {
    const opened = await openStore()
    const { store } = opened
    const empty = await store.usage()
    expect(empty).toMatchObject({ storedBytes: 0, storedChunks: 0 })
    expect(empty.diskTotalBytes).toBeGreaterThan(0)
    expect(empty.diskFreeBytes).toBeGreaterThan(0)
    expect(empty.diskFreeBytes).toBeLessThanOrEqual(empty.diskTotalBytes)
    expect(empty.minFreeBytes).toBeGreaterThan(0)

    const shared = randomBytes(2 * SMALL_CHUNK, 21)
    const root = await tempDir()
    const a = await store.addPath(
      await writeTree(join(root, 'A'), { 's.bin': shared, 'a.bin': randomBytes(100, 22) }),
    )
    await store.addPath(await writeTree(join(root, 'B'), { 's.bin': shared, 'b.bin': randomBytes(50, 23) }))
    expect(await store.usage()).toMatchObject({ storedBytes: 2 * SMALL_CHUNK + 150, storedChunks: 4 })

    const extra = randomBytes(300, 24)
    await store.putVerifiedChunk(chunkCid(extra), extra)
    await store.putVerifiedChunk(chunkCid(extra), extra) // a rewrite is not a second chunk
    await store.putChunk(chunkCid(extra), extra)
    expect(await store.usage()).toMatchObject({ storedBytes: 2 * SMALL_CHUNK + 450, storedChunks: 5 })

    await store.remove(a.cid)
    expect(await store.usage()).toMatchObject({ storedBytes: 2 * SMALL_CHUNK + 350, storedChunks: 4 })

    // A new store over the same data dir scans the index and finds the same.
    const reopened = new ContentStore({ dataDir: opened.dataDir, db: opened.db, chunkSize: SMALL_CHUNK })
    expect(await reopened.usage()).toMatchObject({ storedBytes: 2 * SMALL_CHUNK + 350, storedChunks: 4 })
  })

  it('a fetcher fills a partial store: putManifest, haveMap, missingChunks, markComplete', async () => {
    const origin = await openStore()
    const src = await writeTree(join(await tempDir(), 'ds'), {
      'a.bin': randomBytes(3 * SMALL_CHUNK, 18),
      'b.bin': randomBytes(SMALL_CHUNK + 5, 19),
    })
    const info = await origin.store.addPath(src)
    const manifestBytes = (await origin.store.getManifestBytes(info.cid))!
    const chunks = manifestChunkList((await origin.store.getManifest(info.cid))!)
    expect(chunks).toHaveLength(5)

    const { store } = await openStore()
    const otherCid = (await origin.store.addPath(join(src, 'b.bin'))).cid
    await expectCode(store.putManifest(manifestBytes, otherCid), 'ERR_MANIFEST_HASH_MISMATCH')
    await expectCode(store.putManifest(new TextEncoder().encode('{}'), info.cid), 'ERR_INVALID_MANIFEST')

    const stored = await store.putManifest(manifestBytes, info.cid)
    expect(stored).toMatchObject({ cid: info.cid, bytes: info.bytes, chunks: 5, complete: false })
    expect(await store.getManifestBytes(info.cid)).toEqual(manifestBytes)
    expect([...(await store.haveMap(info.cid))]).toEqual([0])
    expect(await store.missingChunks(info.cid)).toEqual(chunks)

    for (const index of [0, 3]) {
      const cid = chunks[index]!
      await store.putChunk(cid, (await origin.store.getChunk(cid))!)
    }
    // chunks 0 and 3 of 5: bits 0x80 and 0x10
    expect([...(await store.haveMap(info.cid))]).toEqual([0x90])
    expect(await store.missingChunks(info.cid)).toEqual([chunks[1], chunks[2], chunks[4]])
    await expectCode(store.markComplete(info.cid), 'ERR_DATASET_INCOMPLETE')

    for (const cid of await store.missingChunks(info.cid)) {
      await store.putChunk(cid, (await origin.store.getChunk(cid))!)
    }
    expect([...(await store.haveMap(info.cid))]).toEqual([0xf8])
    expect((await store.markComplete(info.cid)).complete).toBe(true)
    const out = join(await tempDir(), 'out')
    await store.exportDataset(info.cid, out)
    expect(await sha256File(join(out, 'a.bin'))).toBe(await sha256File(join(src, 'a.bin')))
    expect(await sha256File(join(out, 'b.bin'))).toBe(await sha256File(join(src, 'b.bin')))
  })

  it('unknown datasets: lookups return undefined, actions throw ERR_DATASET_NOT_FOUND', async () => {
    const { store } = await openStore()
    const unknown = 'bagaaierareczo6lq6wmctxjyx53t3vmxe7crskdbfewnkevp3yjmxpvtxifq'
    expect(await store.get(unknown)).toBeUndefined()
    expect(await store.getManifest(unknown)).toBeUndefined()
    await expectCode(store.haveMap(unknown), 'ERR_DATASET_NOT_FOUND')
    await expectCode(store.exportDataset(unknown, join(await tempDir(), 'x')), 'ERR_DATASET_NOT_FOUND')
    await expectCode(store.verify(unknown), 'ERR_DATASET_NOT_FOUND')
    // a chunk CID is not a dataset CID
    await expectCode(store.haveMap(chunkCid(Uint8Array.of(1)).toString()), 'ERR_INVALID_CID')
  })
})
