import { z } from 'zod'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { parseChunkCid } from './cid.ts'
import {
  MANIFEST_VERSION,
  MAX_CHUNK_SIZE,
  MAX_MANIFEST_BYTES,
  MAX_NAME_LENGTH,
  MAX_PATH_LENGTH,
  MIN_CHUNK_SIZE,
} from './constants.ts'

/**
 * A dataset manifest. Its deterministic encoding (see encodeManifest) is what
 * the dataset CID hashes, so two nodes that chunk the same files with the same
 * chunk size agree on the dataset CID.
 */
export interface ManifestFile {
  /** posix path relative to the dataset root, e.g. 'train/00001.jpg' */
  path: string
  /** file size in bytes */
  size: number
  /** chunk CID strings (base32 CIDv1, raw, sha2-256) in file order */
  chunks: string[]
}

export interface Manifest {
  version: typeof MANIFEST_VERSION
  name: string
  /** bytes per chunk; the last chunk of each file may be shorter */
  chunkSize: number
  /** sorted by path (plain string order, never locale order) */
  files: ManifestFile[]
}

/** Throws ERR_INVALID_CHUNK_SIZE unless size is an integer in MIN_CHUNK_SIZE..MAX_CHUNK_SIZE. */
export function checkChunkSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE) {
    throw new BwnodeError(
      ERR.INVALID_CHUNK_SIZE,
      `chunk size must be an integer from ${MIN_CHUNK_SIZE} (64 KiB) to ${MAX_CHUNK_SIZE} (4 MiB) bytes, got ${size}`,
    )
  }
  return size
}

/** Number of chunks a file of `size` bytes is split into (0 for an empty file). */
export function chunkCountFor(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

/** Byte length of chunk `index` of a file of `size` bytes. */
export function chunkLengthAt(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize)
}

/**
 * True for a posix path that stays inside the dataset root when joined to it:
 * relative, no empty, '.' or '..' segments, no backslashes (a separator on
 * Windows) and no NUL.
 */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH) return false
  if (path.includes('\\') || path.includes('\0')) return false
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return false
  }
  return true
}

/** Encodes a manifest as JSON with a fixed key order, so equal manifests give equal bytes. */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const ordered = {
    version: manifest.version,
    name: manifest.name,
    chunkSize: manifest.chunkSize,
    files: manifest.files.map((file) => ({ path: file.path, size: file.size, chunks: file.chunks })),
  }
  return new TextEncoder().encode(JSON.stringify(ordered))
}

const manifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  chunkSize: z.int(),
  files: z.array(
    z.strictObject({
      path: z.string().max(MAX_PATH_LENGTH),
      size: z.int().nonnegative(),
      // a CIDv1 sha2-256 in base32 is 59 characters; the bound only stops huge strings early
      chunks: z.array(z.string().max(128)),
    }),
  ),
})

function invalid(message: string): BwnodeError {
  return new BwnodeError(ERR.INVALID_MANIFEST, `invalid manifest: ${message}`)
}

/**
 * Checks what the schema cannot: chunk size range, safe and unique sorted
 * paths, no path that is both a file and a directory, the chunk count of each
 * file against its size, and that every chunk is a canonical raw sha2-256 CID.
 */
export function validateManifest(manifest: Manifest): void {
  try {
    checkChunkSize(manifest.chunkSize)
  } catch (err) {
    throw invalid((err as Error).message)
  }
  const paths = new Set<string>()
  let previous: string | undefined
  let totalBytes = 0
  for (const file of manifest.files) {
    if (!isSafeRelativePath(file.path)) throw invalid(`unsafe path ${JSON.stringify(file.path.slice(0, 80))}`)
    if (previous !== undefined && !(previous < file.path)) {
      throw invalid(`paths must be unique and sorted: ${JSON.stringify(file.path.slice(0, 80))}`)
    }
    previous = file.path
    paths.add(file.path)
    totalBytes += file.size
    if (!Number.isSafeInteger(totalBytes)) throw invalid('total size is too large')
    const expected = chunkCountFor(file.size, manifest.chunkSize)
    if (file.chunks.length !== expected) {
      throw invalid(
        `${file.path}: ${file.size} bytes need ${expected} chunks, manifest lists ${file.chunks.length}`,
      )
    }
    for (const chunk of file.chunks) {
      let canonical: string
      try {
        canonical = parseChunkCid(chunk).toString()
      } catch (err) {
        throw invalid(`${file.path}: ${(err as Error).message}`)
      }
      if (canonical !== chunk) throw invalid(`${file.path}: chunk CID is not in canonical base32 form`)
    }
  }
  // 'a' and 'a/b' cannot both be files: export would have to make 'a' a file and a directory.
  for (const path of paths) {
    let slash = path.indexOf('/')
    while (slash !== -1) {
      if (paths.has(path.slice(0, slash)))
        throw invalid(`${path.slice(0, slash)} is both a file and a directory`)
      slash = path.indexOf('/', slash + 1)
    }
  }
}

/**
 * Decodes and validates manifest bytes, e.g. received from a peer. Anything
 * wrong (too large, not UTF-8 JSON, wrong shape, unsafe paths, wrong chunk
 * counts, bad CIDs, non-canonical encoding) throws a BwnodeError and nothing else.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (!(bytes instanceof Uint8Array)) throw invalid('expected bytes')
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new BwnodeError(
      ERR.MANIFEST_TOO_LARGE,
      `manifest is ${bytes.byteLength} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`,
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw invalid('not UTF-8 JSON')
  }
  const result = manifestSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw invalid(issue === undefined ? 'wrong shape' : `${issue.path.join('.')}: ${issue.message}`)
  }
  const manifest: Manifest = result.data
  validateManifest(manifest)
  // Only one byte form per manifest, so one manifest never has two dataset CIDs.
  const canonical = encodeManifest(manifest)
  if (!equalBytes(canonical, bytes)) throw invalid('not in canonical encoding')
  return manifest
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** Total bytes and chunks of a manifest. */
export function manifestTotals(manifest: Manifest): { bytes: number; chunks: number } {
  let bytes = 0
  let chunks = 0
  for (const file of manifest.files) {
    bytes += file.size
    chunks += file.chunks.length
  }
  return { bytes, chunks }
}

/** All chunk CIDs of a manifest, in manifest order (a CID repeats if its bytes repeat). */
export function manifestChunkList(manifest: Manifest): string[] {
  return manifest.files.flatMap((file) => file.chunks)
}

/**
 * The files a selection names: each entry is a file's path or a folder of the dataset ('train'
 * or 'train/' selects every file under train/). An entry that names nothing is an error that
 * lists a few of the dataset's paths, so a mistyped path is not a silent empty fetch. No
 * selection (undefined) is every file.
 */
export function selectFiles(
  manifest: Manifest,
  selection: readonly string[] | undefined,
  dataset = manifest.name,
): ManifestFile[] {
  if (selection === undefined) return manifest.files
  const chosen = new Set<ManifestFile>()
  for (const entry of selection) {
    const folder = entry.endsWith('/') ? entry : `${entry}/`
    const matched = manifest.files.filter((file) => file.path === entry || file.path.startsWith(folder))
    if (matched.length === 0) {
      const some = manifest.files.slice(0, 3).map((f) => f.path)
      throw new BwnodeError(
        ERR.NOT_FOUND,
        `no file ${entry} in dataset ${dataset} (it has ${manifest.files.length}: ` +
          `${some.join(', ')}${manifest.files.length > 3 ? ', ...' : ''})`,
      )
    }
    for (const file of matched) chosen.add(file)
  }
  // manifest order, whatever the selection's order
  return manifest.files.filter((file) => chosen.has(file))
}
