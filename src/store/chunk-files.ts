import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'

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

  constructor(root: string) {
    this.root = root
    this.tempDir = join(root, 'tmp')
  }

  pathOf(cid: CID): string {
    const digest = cid.multihash.digest
    const shard = (digest[digest.byteLength - 1] ?? 0).toString(16).padStart(2, '0')
    return join(this.root, shard, cid.toString())
  }

  /** The chunk's bytes, or undefined when its file does not exist. One file read. */
  async read(cid: CID): Promise<Uint8Array | undefined> {
    try {
      const buffer = await readFile(this.pathOf(cid))
      // a plain Uint8Array view (no copy): callers get exactly the type the API promises
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Writes bytes (already verified against cid by the caller) under a temp name, then renames. */
  async write(cid: CID, bytes: Uint8Array): Promise<void> {
    const finalPath = this.pathOf(cid)
    await this.ensureDir(this.tempDir)
    await this.ensureDir(join(finalPath, '..'))
    const tempPath = join(this.tempDir, `${cid.toString()}.${randomBytes(6).toString('hex')}`)
    try {
      await writeFile(tempPath, bytes)
      await rename(tempPath, finalPath)
    } catch (err) {
      await rm(tempPath, { force: true })
      throw err
    }
  }

  /** Deletes a chunk file; a file that is already gone is fine. */
  async delete(cid: CID): Promise<void> {
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

export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT'
}
