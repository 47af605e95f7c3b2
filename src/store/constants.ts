// The chunk sizes a dataset may have are part of the API's contract (the CLI checks them too).
export { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../contract/api.ts'
/** Largest encoded manifest accepted, in bytes (8 MiB); bounds what a peer can make us parse. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
/** Manifest format version written into every manifest. */
export const MANIFEST_VERSION = 1
/** Longest dataset name, in characters. */
export const MAX_NAME_LENGTH = 255
/** Longest file path inside a dataset, in characters. */
export const MAX_PATH_LENGTH = 4096
/** Chunk files addPath writes concurrently (count): overlaps disk writes with reading and hashing. */
export const DEFAULT_IMPORT_WRITE_CONCURRENCY = 4

/** Free space kept on the data dir's disk for the database, bytes (config store.minFreeBytes). */
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024

/** Free disk space is re-read at most this often while chunks are written, ms. */
export const DISK_CHECK_INTERVAL_MS = 1_000
