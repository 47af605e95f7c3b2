/** Chunk size used when none is given, in bytes (1 MiB). */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024
/** Smallest chunk size accepted, in bytes (64 KiB): below this, per-request overhead dominates. */
export const MIN_CHUNK_SIZE = 64 * 1024
/** Largest chunk size accepted, in bytes (4 MiB): a chunk is held whole in memory on both ends. */
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024
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
