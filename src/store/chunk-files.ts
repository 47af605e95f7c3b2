import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { isNotFound } from '../util/fs.ts'
import type { DiskGuard } from './disk-guard.ts'

/** A chunk CID, or its canonical base32 string as produced by chunkKey(). */
export type ChunkRef = CID | string

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * The last byte of the sha2-256 digest, in hex, read straight from the base32
 * string: a 36-byte CID is 58 base32 characters after the 'b' prefix; the
 * last byte is the low 5 bits of character 56 and the top 3 bits of character 57.
 */
function shardOf(key: string): string {
  const high = BASE32_ALPHABET.indexOf(key.charAt(key.length - 2))
  const low = BASE32_ALPHABET.indexOf(key.charAt(key.length - 1))
  const lastByte = ((high << 3) | (low >> 2)) & 0xff
  return lastByte.toString(16).padStart(2, '0')
}

/**
 * Chunk bytes as plain files: <root>/<shard>/<cid>, where the shard is the
 * last byte of the hash in hex (the CID string's leading characters are the
 * same for every chunk, so they would put everything in one directory).
 *
 * A chunk is written to <root>/tmp/ first and renamed into place, so a crash
 * never leaves a half chunk under its final name; whatever is left in tmp/ is
 * deleted by clearTemp() when the store opens.
 */
export class ChunkFiles {
  readonly root: string
  readonly tempDir: string
  private readonly madeDirs = new Set<string>()

  private readonly guard: DiskGuard | undefined

  constructor(root: string, guard?: DiskGuard) {
    this.root = root
    this.tempDir = join(root, 'tmp')
    this.guard = guard
  }

  /** Path of a chunk, given its CID or its canonical CID string (see chunkKey). */
  pathOf(cid: ChunkRef): string {
    const key = typeof cid === 'string' ? cid : cid.toString()
    return join(this.root, shardOf(key), key)
  }

  /** The chunk's bytes, or undefined when its file does not exist. One file read. */
  async read(cid: ChunkRef): Promise<Uint8Array | undefined> {
    try {
      return await readWhole(this.pathOf(cid))
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Writes bytes (already verified against cid by the caller) under a temp name, then renames. */
  async write(cid: ChunkRef, bytes: Uint8Array): Promise<void> {
    const finalPath = this.pathOf(cid)
    const release = await this.guard?.reserve(bytes.byteLength)
    const tempPath = join(this.tempDir, `${String(cid)}.${randomBytes(6).toString('hex')}`)
    try {
      await this.ensureDir(this.tempDir)
      await this.ensureDir(join(finalPath, '..'))
      await writeWhole(tempPath, bytes)
      await rename(tempPath, finalPath)
      release?.(true)
    } catch (err) {
      await rm(tempPath, { force: true })
      release?.(false)
      throw err
    }
  }

  /** Deletes a chunk file; a file that is already gone is fine. */
  async delete(cid: ChunkRef): Promise<void> {
    try {
      await unlink(this.pathOf(cid))
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }

  /** Removes leftovers of writes interrupted by a crash. Call before any write starts. */
  async clearTemp(): Promise<number> {
    let names: string[]
    try {
      names = await readdir(this.tempDir)
    } catch (err) {
      if (isNotFound(err)) return 0
      throw err
    }
    await Promise.all(names.map((name) => rm(join(this.tempDir, name), { force: true, recursive: true })))
    return names.length
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return
    await mkdir(dir, { recursive: true })
    this.madeDirs.add(dir)
  }
}

/**
 * open + one write (looped only on a short write) + close: fs.writeFile would
 * split a 1 MiB chunk into 512 KiB writes.
 */
async function writeWhole(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'w')
  try {
    let written = 0
    while (written < bytes.byteLength) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, written)
      written += bytesWritten
    }
  } finally {
    await handle.close()
  }
}

/**
 * open + fstat + one read + close: one step fewer than fs.readFile (which reads
 * in 512 KiB pieces) for a 1 MiB chunk. Returns a plain Uint8Array.
 */
async function readWhole(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    const bytes = new Uint8Array(size)
    let filled = 0
    while (filled < size) {
      const { bytesRead } = await handle.read(bytes, filled, size - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled === size ? bytes : bytes.subarray(0, filled)
  } finally {
    await handle.close()
  }
}
