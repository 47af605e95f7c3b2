import { open, readdir, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { isNotFound } from '../util/fs.ts'
import { isSafeRelativePath } from './manifest.ts'

export interface SourceFile {
  /** absolute path on this machine */
  absPath: string
  /** posix path relative to the dataset root, as written in the manifest */
  relPath: string
  /** bytes when listed (for progress; what is read is what counts) */
  size: number
}

/**
 * The files of a dataset in manifest order. A file is a one-file dataset named
 * by its basename; a directory is walked recursively. Paths are sorted with
 * plain string comparison (never locale order) so every machine agrees.
 * Anything that is neither a regular file nor a directory (symlinks, sockets)
 * is refused rather than silently skipped or followed.
 */
export async function listSourceFiles(path: string): Promise<SourceFile[]> {
  const root = resolve(path)
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(root)
  } catch (err) {
    if (isNotFound(err)) throw new BwnodeError(ERR.NOT_FOUND, `${path}: no such file or directory`)
    throw err
  }
  const files: SourceFile[] = []
  if (info.isFile()) {
    files.push({ absPath: root, relPath: basename(root), size: info.size })
  } else if (info.isDirectory()) {
    await walkDirectory(root, '', files)
  } else {
    throw new BwnodeError(ERR.UNSUPPORTED_FILE, `${path}: not a regular file or directory`)
  }
  for (const file of files) {
    if (!isSafeRelativePath(file.relPath)) {
      throw new BwnodeError(ERR.UNSUPPORTED_FILE, `${file.absPath}: this file name cannot be shared`)
    }
  }
  return files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0))
}

async function walkDirectory(dir: string, prefix: string, out: SourceFile[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  for (const entry of entries) {
    const absPath = join(dir, entry.name)
    const relPath = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) {
      await walkDirectory(absPath, relPath, out)
    } else if (entry.isFile()) {
      out.push({ absPath, relPath, size: (await stat(absPath)).size })
    } else {
      throw new BwnodeError(ERR.UNSUPPORTED_FILE, `${absPath}: not a regular file or directory`)
    }
  }
}

/**
 * Reads a file as consecutive chunks of chunkSize bytes (the last one shorter),
 * one chunk in memory at a time. An empty file yields nothing.
 */
export async function* readFileChunks(absPath: string, chunkSize: number): AsyncGenerator<Uint8Array> {
  const handle = await open(absPath, 'r')
  try {
    let position = 0
    while (true) {
      const buffer = Buffer.allocUnsafe(chunkSize)
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await handle.read(buffer, filled, chunkSize - filled, position + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled > 0) yield filled === chunkSize ? buffer : buffer.subarray(0, filled)
      if (filled < chunkSize) return
      position += filled
    }
  } finally {
    await handle.close()
  }
}
