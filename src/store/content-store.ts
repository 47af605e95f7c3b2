import { lstat, mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { DatasetInfo } from '../contract/api.ts'
import type { Database } from '../db/database.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { exists, isNotFound } from '../util/fs.ts'
import { createBitfield, setBit } from './bitfield.ts'
import { ChunkFiles } from './chunk-files.ts'
import { chunkCid, chunkKey, manifestCid, parseChunkCid, parseDatasetCid } from './cid.ts'
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_IMPORT_WRITE_CONCURRENCY,
  DEFAULT_MIN_FREE_BYTES,
  MANIFEST_VERSION,
  MAX_CHUNK_SIZE,
  MAX_NAME_LENGTH,
} from './constants.ts'
import { DiskGuard, diskSpace } from './disk-guard.ts'
import {
  checkChunkSize,
  decodeManifest,
  encodeManifest,
  type Manifest,
  type ManifestFile,
  manifestChunkList,
  manifestTotals,
  selectFiles,
  validateManifest,
} from './manifest.ts'
import { listSourceFiles, readFileChunks } from './walk.ts'

export interface AddOptions {
  /** defaults to the basename of the path */
  name?: string
  /** bytes per chunk, 64 KiB..4 MiB; defaults to the store's chunk size */
  chunkSize?: number
  /** Called once the files are listed, after each chunk is read and hashed, and at the end. */
  onProgress?: (progress: AddProgress) => void
}

/** How far an add has come: bytes read and hashed of the files listed at its start. */
export interface AddProgress {
  name: string
  /** Sizes of the files when they were listed (grows if a file grew meanwhile). */
  totalBytes: number
  doneBytes: number
  totalFiles: number
  doneFiles: number
}

export interface RemoveResult {
  cid: string
  /** chunk files deleted because no other dataset uses them */
  chunksDeleted: number
  bytesFreed: number
}

export interface ExportResult {
  path: string
  files: number
  bytes: number
}

export interface VerifyReport {
  cid: string
  /** distinct chunks re-hashed */
  checked: number
  /** distinct chunks absent (never fetched, or their file was gone) */
  missing: string[]
  /** distinct chunks whose bytes did not match their CID; they were deleted so they can be fetched again */
  corrupt: string[]
}

/** What the store takes on disk and what the disk has left (dashboard, metrics). */
export interface StoreUsage {
  /** Bytes of the chunk files held, each distinct chunk once (manifests and the database aside). */
  storedBytes: number
  storedChunks: number
  /** Bytes still free on the disk holding the data dir, for an unprivileged writer. */
  diskFreeBytes: number
  diskTotalBytes: number
  /** Free space kept for the database (store.minFreeBytes): chunk writes stop above it. */
  minFreeBytes: number
}

export interface ContentStoreInit {
  dataDir: string
  db: Database
  /** bytes per chunk for addPath when none is given */
  chunkSize?: number
  /** clock for addedAt, ms since the epoch */
  now?: () => number
  /** chunk files addPath writes at once (count) */
  importWriteConcurrency?: number
  /** free space kept on the disk for the database, bytes; 0 turns the check off */
  minFreeBytes?: number
}

/** What the chunk index keeps per present chunk. */
interface ChunkRecord {
  size: number
}

type DatasetRecord = DatasetInfo

/**
 * Datasets as content-addressed chunks. Chunk bytes are plain files under
 * <dataDir>/chunks; LevelDB (sublevel 'store') holds:
 *   manifests  datasetCid -> manifest bytes (exactly the bytes the CID hashes)
 *   datasets   datasetCid -> DatasetInfo
 *   chunks     chunkCid   -> { size }              (the chunk file is present)
 *   refs       chunkCid!datasetCid -> ''           (which datasets use a chunk)
 * A chunk is deleted only when its last ref goes, so datasets that share
 * chunks store them once and removing one never breaks another. Refs are
 * scanned rather than counted, so a crash cannot leave a counter wrong.
 */
export class ContentStore {
  readonly dataDir: string
  private readonly files: ChunkFiles
  private readonly root
  private readonly manifests
  private readonly datasets
  private readonly chunks
  private readonly refs
  private readonly defaultChunkSize: number
  private readonly now: () => number
  private readonly importWriteConcurrency: number
  /** addPath and remove run one at a time, so a remove never deletes a chunk an add is relying on. */
  private exclusiveTail: Promise<unknown> = Promise.resolve()
  private readonly minFreeBytes: number
  /** Chunk index entries added minus removed since the store opened (see usage()). */
  private readonly change = { bytes: 0, chunks: 0 }
  /** One scan of the chunk index, taken at the first usage(); `change` carries it forward. */
  private scanned: Promise<{ bytes: number; chunks: number }> | undefined

  constructor(init: ContentStoreInit) {
    this.dataDir = init.dataDir
    this.minFreeBytes = init.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES
    this.files = new ChunkFiles(join(init.dataDir, 'chunks'), new DiskGuard(init.dataDir, this.minFreeBytes))
    this.root = init.db.sublevel('store')
    this.manifests = this.root.sublevel<string, Uint8Array>('manifests', { valueEncoding: 'view' })
    this.datasets = this.root.sublevel<string, DatasetRecord>('datasets', { valueEncoding: 'json' })
    this.chunks = this.root.sublevel<string, ChunkRecord>('chunks', { valueEncoding: 'json' })
    this.refs = this.root.sublevel<string, string>('refs', { valueEncoding: 'utf8' })
    this.defaultChunkSize = checkChunkSize(init.chunkSize ?? DEFAULT_CHUNK_SIZE)
    this.now = init.now ?? Date.now
    this.importWriteConcurrency = init.importWriteConcurrency ?? DEFAULT_IMPORT_WRITE_CONCURRENCY
  }

  /** Deletes leftovers of chunk writes a crash interrupted. Call once before using the store. */
  async start(): Promise<void> {
    await this.files.clearTemp()
  }

  /**
   * Chunks a file or directory into the store and returns its dataset. Files
   * are streamed one chunk at a time, so size is bounded by disk, not memory.
   * Adding the same content again returns the same CID and writes nothing new.
   */
  async addPath(path: string, options: AddOptions = {}): Promise<DatasetInfo> {
    const chunkSize = checkChunkSize(options.chunkSize ?? this.defaultChunkSize)
    const name = options.name ?? basename(resolve(path))
    checkName(name)
    return this.exclusive(async () => {
      const sources = await listSourceFiles(path)
      const progress: AddProgress = {
        name,
        totalBytes: sources.reduce((sum, source) => sum + source.size, 0),
        doneBytes: 0,
        totalFiles: sources.length,
        doneFiles: 0,
      }
      const report = (): void => {
        progress.totalBytes = Math.max(progress.totalBytes, progress.doneBytes)
        options.onProgress?.({ ...progress })
      }
      report()
      const written = new Map<string, number>()
      let fresh = { bytes: 0, chunks: 0 }
      const files: ManifestFile[] = []
      // Chunk writes overlap with reading and hashing the next chunks, a bounded
      // number at a time so memory stays at a few chunks.
      const inFlight: Promise<void>[] = []
      for (const source of sources) {
        const chunks: string[] = []
        let size = 0
        for await (const bytes of readFileChunks(source.absPath, chunkSize)) {
          const cid = chunkCid(bytes)
          const key = cid.toString()
          if (!written.has(key)) {
            written.set(key, bytes.byteLength)
            if (!(await this.chunks.has(key))) {
              fresh = { bytes: fresh.bytes + bytes.byteLength, chunks: fresh.chunks + 1 }
              const write = this.files.write(cid, bytes)
              write.catch(() => undefined) // surfaced when awaited below
              inFlight.push(write)
              if (inFlight.length >= this.importWriteConcurrency) await inFlight.shift()
            }
          }
          chunks.push(key)
          size += bytes.byteLength
          progress.doneBytes += bytes.byteLength
          report()
        }
        files.push({ path: source.relPath, size, chunks })
        progress.doneFiles++
        report()
      }
      for (const write of inFlight.splice(0)) await write
      const manifest: Manifest = { version: MANIFEST_VERSION, name, chunkSize, files }
      validateManifest(manifest)
      const manifestBytes = encodeManifest(manifest)
      const cid = manifestCid(manifestBytes).toString()
      const previous = await this.datasets.get(cid)
      const record: DatasetRecord = {
        cid,
        name,
        ...manifestTotals(manifest),
        addedAt: previous?.addedAt ?? this.now(),
        complete: true,
      }
      const batch = this.root.batch()
      batch.put(cid, manifestBytes, { sublevel: this.manifests })
      batch.put(cid, record, { sublevel: this.datasets })
      for (const [chunk, size] of written) {
        batch.put(chunk, { size }, { sublevel: this.chunks })
        batch.put(refKey(chunk, cid), '', { sublevel: this.refs })
      }
      await batch.write()
      this.tally(fresh.bytes, fresh.chunks)
      return { ...record }
    })
  }

  /**
   * Chunk bytes held and the disk's free space. The first call scans the chunk index once; from
   * then on every chunk the store adds or drops is counted as it happens (a chunk written while
   * that scan runs may be counted twice until the node restarts). The disk is read each call.
   */
  async usage(): Promise<StoreUsage> {
    this.scanned ??= this.scanIndex()
    const [base, disk] = await Promise.all([this.scanned, diskSpace(this.dataDir)])
    return {
      storedBytes: base.bytes + this.change.bytes,
      storedChunks: base.chunks + this.change.chunks,
      diskFreeBytes: disk.freeBytes,
      diskTotalBytes: disk.totalBytes,
      minFreeBytes: this.minFreeBytes,
    }
  }

  /** The index's totals less what `change` already counted, so the two add up. */
  private async scanIndex(): Promise<{ bytes: number; chunks: number }> {
    const before = { ...this.change }
    let bytes = 0
    let chunks = 0
    for await (const record of this.chunks.values()) {
      bytes += record.size
      chunks++
    }
    return { bytes: bytes - before.bytes, chunks: chunks - before.chunks }
  }

  private tally(bytes: number, chunks: number): void {
    this.change.bytes += bytes
    this.change.chunks += chunks
  }

  /** Drops a chunk's index entry (its file is gone or was deleted), keeping usage() right. */
  private async forgetChunk(key: string): Promise<void> {
    const record = await this.chunks.get(key)
    if (record === undefined) return
    await this.chunks.del(key)
    this.tally(-record.size, -1)
  }

  /** All datasets, oldest first. */
  async list(): Promise<DatasetInfo[]> {
    const all = await this.datasets.values().all()
    return all.sort((a, b) => a.addedAt - b.addedAt || (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0))
  }

  async get(cid: string | CID): Promise<DatasetInfo | undefined> {
    return this.datasets.get(parseDatasetCid(cid).toString())
  }

  async getManifest(cid: string | CID): Promise<Manifest | undefined> {
    const bytes = await this.getManifestBytes(cid)
    return bytes === undefined ? undefined : decodeManifest(bytes)
  }

  /** The manifest exactly as hashed by the dataset CID, e.g. to send to a peer. */
  async getManifestBytes(cid: string | CID): Promise<Uint8Array | undefined> {
    return this.manifests.get(parseDatasetCid(cid).toString())
  }

  /**
   * Stores a manifest learnt from a peer, before its chunks arrive. The bytes
   * are decoded and validated, and must hash to expectedCid when it is given
   * (ERR_MANIFEST_HASH_MISMATCH). The dataset starts incomplete unless every
   * chunk is already here. Storing a known manifest again changes nothing.
   */
  async putManifest(bytes: Uint8Array, expectedCid?: string | CID): Promise<DatasetInfo> {
    const expected = expectedCid === undefined ? undefined : parseDatasetCid(expectedCid)
    const manifest = decodeManifest(bytes)
    const cid = manifestCid(bytes)
    if (expected !== undefined && !sameCid(expected, cid)) {
      throw new BwnodeError(
        ERR.MANIFEST_HASH_MISMATCH,
        `manifest bytes hash to ${cid.toString()}, expected ${expected.toString()}`,
      )
    }
    const key = cid.toString()
    const existing = await this.datasets.get(key)
    if (existing !== undefined) return existing
    const missing = await this.missingOf(manifest)
    const record: DatasetRecord = {
      cid: key,
      name: manifest.name,
      ...manifestTotals(manifest),
      addedAt: this.now(),
      complete: missing.length === 0,
    }
    const batch = this.root.batch()
    batch.put(key, Uint8Array.from(bytes), { sublevel: this.manifests })
    batch.put(key, record, { sublevel: this.datasets })
    for (const chunk of new Set(manifestChunkList(manifest))) {
      batch.put(refKey(chunk, key), '', { sublevel: this.refs })
    }
    await batch.write()
    return { ...record }
  }

  /**
   * Whether a chunk is present. Checks the index and then the file, so a file
   * deleted behind the store's back counts as missing (and the index is fixed).
   */
  async hasChunk(cid: string | CID): Promise<boolean> {
    const key = chunkKey(cid)
    if (!(await this.chunks.has(key))) return false
    try {
      await lstat(this.files.pathOf(key))
      return true
    } catch (err) {
      if (!isNotFound(err)) throw err
      await this.forgetChunk(key)
      return false
    }
  }

  /**
   * A chunk's bytes, or undefined. One file read and no hashing: bytes were
   * verified when written (use verify() to re-check the disk), and a peer
   * verifies whatever it receives anyway.
   */
  async getChunk(cid: string | CID): Promise<Uint8Array | undefined> {
    const key = chunkKey(cid)
    const bytes = await this.files.read(key)
    if (bytes === undefined) await this.forgetChunk(key)
    return bytes
  }

  /**
   * Stores a chunk after checking that bytes hash to cid; a mismatch throws
   * ERR_CHUNK_HASH_MISMATCH and nothing is written. Storing a present chunk
   * again is a no-op.
   */
  async putChunk(cid: string | CID, bytes: Uint8Array): Promise<void> {
    const expected = parseChunkCid(cid)
    if (bytes.byteLength > MAX_CHUNK_SIZE) {
      throw new BwnodeError(
        ERR.CHUNK_TOO_LARGE,
        `chunk is ${bytes.byteLength} bytes, more than the ${MAX_CHUNK_SIZE} allowed`,
      )
    }
    const actual = chunkCid(bytes)
    if (!sameCid(actual, expected)) {
      throw new BwnodeError(
        ERR.CHUNK_HASH_MISMATCH,
        `chunk bytes hash to ${actual.toString()}, expected ${expected.toString()}`,
      )
    }
    const key = expected.toString()
    if (await this.chunks.has(key)) return
    await this.files.write(expected, bytes)
    await this.chunks.put(key, { size: bytes.byteLength })
    this.tally(bytes.byteLength, 1)
  }

  /**
   * Stores a chunk whose bytes the caller has ALREADY checked against cid (a
   * ChunkSession verifies every chunk before handing it over). Skips the second
   * sha2-256 and the presence check: rewriting a present chunk is harmless,
   * since the content under a CID never changes and the file is replaced by a
   * rename. Anything not verified must go through putChunk().
   */
  async putVerifiedChunk(cid: CID, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength > MAX_CHUNK_SIZE) {
      throw new BwnodeError(
        ERR.CHUNK_TOO_LARGE,
        `chunk is ${bytes.byteLength} bytes, more than the ${MAX_CHUNK_SIZE} allowed`,
      )
    }
    const key = chunkKey(cid)
    // One index read (usually from LevelDB's cache) so a rewrite does not count twice in usage().
    const present = await this.chunks.has(key)
    await this.files.write(key, bytes)
    await this.chunks.put(key, { size: bytes.byteLength })
    if (!present) this.tally(bytes.byteLength, 1)
  }

  /** Bit i set = chunk i of the manifest's chunk list (files in order, chunks in order) is present. */
  async haveMap(datasetCid: string | CID): Promise<Uint8Array> {
    const { manifest } = await this.requireDataset(datasetCid)
    const list = manifestChunkList(manifest)
    const present = await this.chunks.hasMany(list)
    const bits = createBitfield(list.length)
    present.forEach((has, index) => {
      if (has) setBit(bits, index)
    })
    return bits
  }

  /** Distinct chunk CIDs of a dataset that are not present, in manifest order. */
  async missingChunks(datasetCid: string | CID): Promise<string[]> {
    const { manifest } = await this.requireDataset(datasetCid)
    return this.missingOf(manifest)
  }

  /** Marks a fetched dataset complete; refuses (ERR_DATASET_INCOMPLETE) while chunks are missing. */
  async markComplete(datasetCid: string | CID): Promise<DatasetInfo> {
    const { record, manifest } = await this.requireDataset(datasetCid)
    const missing = await this.missingOf(manifest)
    if (missing.length > 0) {
      throw new BwnodeError(
        ERR.DATASET_INCOMPLETE,
        `${record.cid} still misses ${missing.length} chunk(s), e.g. ${missing[0]}`,
      )
    }
    const updated = { ...record, complete: true }
    await this.datasets.put(record.cid, updated)
    return updated
  }

  /** Forgets a dataset and deletes the chunk files no other dataset uses. */
  async remove(datasetCid: string | CID): Promise<RemoveResult> {
    return this.exclusive(async () => {
      const { record, manifest } = await this.requireDataset(datasetCid)
      const cid = record.cid
      const distinct = [...new Set(manifestChunkList(manifest))]
      const forget = this.root.batch()
      forget.del(cid, { sublevel: this.manifests })
      forget.del(cid, { sublevel: this.datasets })
      for (const chunk of distinct) forget.del(refKey(chunk, cid), { sublevel: this.refs })
      await forget.write()

      const unused: string[] = []
      for (const chunk of distinct) {
        if (!(await this.isReferenced(chunk))) unused.push(chunk)
      }
      const sizes = await this.chunks.getMany(unused)
      let chunksDeleted = 0
      let bytesFreed = 0
      // Files first, then the index: a crash in between leaves index entries
      // without files, which every reader already treats as missing.
      for (const [index, chunk] of unused.entries()) {
        await this.files.delete(parseChunkCid(chunk))
        const size = sizes[index]
        if (size !== undefined) {
          chunksDeleted++
          bytesFreed += size.size
        }
      }
      await this.chunks.batch(unused.map((key) => ({ type: 'del' as const, key })))
      this.tally(-bytesFreed, -chunksDeleted)
      return { cid, chunksDeleted, bytesFreed }
    })
  }

  /**
   * Writes the dataset's files under outPath (a new directory). Refuses if
   * outPath exists (ERR_OUT_EXISTS). Files are written to outPath + '.partial'
   * and renamed at the end, so a half-written export never looks complete.
   * Every chunk is re-hashed on the way out. With a selection (see selectFiles), only
   * those files are written; the chunks of the others need not be here.
   */
  async exportDataset(
    datasetCid: string | CID,
    outPath: string,
    selection?: readonly string[],
  ): Promise<ExportResult> {
    const { manifest } = await this.requireDataset(datasetCid)
    const files = selectFiles(manifest, selection)
    const target = resolve(outPath)
    const partial = `${target}.partial`
    for (const path of [target, partial]) {
      if (await exists(path)) {
        throw new BwnodeError(ERR.OUT_EXISTS, `${path} already exists; remove it or choose another path`)
      }
    }
    await mkdir(partial, { recursive: true })
    let bytes = 0
    try {
      for (const file of files) {
        const filePath = join(partial, ...file.path.split('/'))
        await mkdir(dirname(filePath), { recursive: true })
        const handle = await open(filePath, 'wx')
        try {
          for (const chunk of file.chunks) {
            const data = await this.readVerified(file.path, chunk)
            await handle.write(data)
            bytes += data.byteLength
          }
        } finally {
          await handle.close()
        }
      }
      await rename(partial, target)
    } catch (err) {
      await rm(partial, { recursive: true, force: true })
      throw err
    }
    return { path: target, files: manifest.files.length, bytes }
  }

  /**
   * One file of a dataset held here, to read in order (`bwnode cat`). Every chunk of it must be
   * present before the first byte goes out, so a reader gets the whole file or a clear error, never
   * a silent prefix; each chunk is re-hashed as it is read (a corrupt one ends the read).
   */
  async openFile(
    datasetCid: string | CID,
    path: string,
  ): Promise<{ size: number; chunks(): AsyncGenerator<Uint8Array> }> {
    const { manifest } = await this.requireDataset(datasetCid)
    const file = manifest.files.find((f) => f.path === path)
    if (file === undefined) {
      // a path that names nothing is said as a selection says it; a folder, as not a file
      const folder = selectFiles(manifest, [path], parseDatasetCid(datasetCid).toString())
      throw new BwnodeError(
        ERR.NOT_FOUND,
        `${path} is a folder of dataset ${parseDatasetCid(datasetCid)} (${folder.length} files), not a file`,
      )
    }
    for (const chunk of file.chunks) {
      if (!(await this.hasChunk(chunk))) {
        throw new BwnodeError(
          ERR.DATASET_INCOMPLETE,
          `${path} is not all here yet (chunk ${chunk} is missing): fetch the dataset first`,
        )
      }
    }
    return { size: file.size, chunks: () => this.verifiedChunks(path, file.chunks) }
  }

  private async *verifiedChunks(path: string, chunks: string[]): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) yield await this.readVerified(path, chunk)
  }

  /** A chunk of `path`, re-hashed: missing or corrupt on disk is an error naming the file. */
  private async readVerified(path: string, chunk: string): Promise<Uint8Array> {
    const parsed = parseChunkCid(chunk)
    const data = await this.getChunk(parsed)
    if (data === undefined)
      throw new BwnodeError(ERR.CHUNK_MISSING, `${path}: chunk ${chunk} is not in the store`)
    if (!sameCid(chunkCid(data), parsed)) {
      throw new BwnodeError(ERR.CHUNK_CORRUPT, `${path}: chunk ${chunk} is corrupt on disk`)
    }
    return data
  }

  /**
   * Re-hashes every present chunk of a dataset. Corrupt chunks are deleted and
   * chunks whose file vanished are dropped from the index, so both show up in
   * missingChunks() to be fetched again; the dataset is marked incomplete.
   */
  async verify(datasetCid: string | CID): Promise<VerifyReport> {
    const { record, manifest } = await this.requireDataset(datasetCid)
    const report: VerifyReport = { cid: record.cid, checked: 0, missing: [], corrupt: [] }
    for (const chunk of new Set(manifestChunkList(manifest))) {
      const parsed = parseChunkCid(chunk)
      if (!(await this.chunks.has(chunk))) {
        report.missing.push(chunk)
        continue
      }
      const data = await this.getChunk(parsed)
      if (data === undefined) {
        report.missing.push(chunk)
        continue
      }
      report.checked++
      if (!sameCid(chunkCid(data), parsed)) {
        report.corrupt.push(chunk)
        await this.files.delete(parsed)
        await this.forgetChunk(chunk)
      }
    }
    if (record.complete && report.missing.length + report.corrupt.length > 0) {
      await this.datasets.put(record.cid, { ...record, complete: false })
    }
    return report
  }

  private async requireDataset(
    datasetCid: string | CID,
  ): Promise<{ record: DatasetRecord; manifest: Manifest }> {
    const key = parseDatasetCid(datasetCid).toString()
    const [record, bytes] = await Promise.all([this.datasets.get(key), this.manifests.get(key)])
    if (record === undefined || bytes === undefined) {
      throw new BwnodeError(ERR.DATASET_NOT_FOUND, `dataset ${key} is not in this store`)
    }
    return { record, manifest: decodeManifest(bytes) }
  }

  private async missingOf(manifest: Manifest): Promise<string[]> {
    const distinct = [...new Set(manifestChunkList(manifest))]
    const present = await this.chunks.hasMany(distinct)
    return distinct.filter((_, index) => !present[index])
  }

  private async isReferenced(chunk: string): Promise<boolean> {
    const prefix = refKey(chunk, '')
    const keys = await this.refs.keys({ gte: prefix, lt: `${prefix}\xff`, limit: 1 }).all()
    return keys.length > 0
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(task, task)
    this.exclusiveTail = run.catch(() => undefined)
    return run
  }
}

/** CID.equals is a type guard, which narrows the other side to never in the false branch. */
function sameCid(a: CID, b: CID): boolean {
  return a.equals(b) as boolean
}

/** '!' is not in the base32 alphabet, so a chunk's refs form one contiguous key range. */
function refKey(chunk: string, dataset: string): string {
  return `${chunk}!${dataset}`
}

function checkName(name: string): void {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new BwnodeError(ERR.INVALID_NAME, `dataset name must be 1 to ${MAX_NAME_LENGTH} characters`)
  }
}
