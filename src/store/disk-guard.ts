import { statfs } from 'node:fs/promises'
import { DiskFullError } from '../errors/index.ts'
import { formatBytes } from '../util/format.ts'
import { DISK_CHECK_INTERVAL_MS } from './constants.ts'

/** The disk holding `path`: bytes an unprivileged writer may still use, and its size. */
export async function diskSpace(path: string): Promise<{ freeBytes: number; totalBytes: number }> {
  const stats = await statfs(path)
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize }
}

/**
 * Keeps `minFreeBytes` free on the disk holding the data dir by refusing chunk writes that would
 * eat into it. The reserve is for LevelDB: a database write that fails for lack of space can
 * leave a torn record in its log, and later writes appended behind it are dropped when the log is
 * replayed at the next start. Chunk files are what fills a disk, so they stop first, with
 * ERR_DISK_FULL, while the database still has room.
 *
 * Free space is read with statfs at most every DISK_CHECK_INTERVAL_MS, and on every write once
 * the estimate is within twice the reserve; in between, writes under way and written are
 * subtracted from the last reading, so concurrent writers cannot together overshoot the reserve
 * and the hot path costs no syscall.
 */
export class DiskGuard {
  private readonly path: string
  private readonly minFreeBytes: number
  private freeBytes: number | undefined
  private checkedAt = Number.NEGATIVE_INFINITY
  /** Bytes reserved by writes still under way: statfs does not count them yet. */
  private pendingBytes = 0

  constructor(path: string, minFreeBytes: number) {
    this.path = path
    this.minFreeBytes = minFreeBytes
  }

  /**
   * Reserves room for a write of `bytes`, or throws DiskFullError when it would leave less than
   * the reserve free. Call the returned function once the write has finished, saying whether the
   * bytes are now on disk.
   */
  async reserve(bytes: number): Promise<(written: boolean) => void> {
    if (this.minFreeBytes <= 0) return () => {}
    const now = performance.now()
    const stale = now - this.checkedAt > DISK_CHECK_INTERVAL_MS
    if (stale || this.freeBytes === undefined || this.available() - bytes < 2 * this.minFreeBytes) {
      this.freeBytes = (await diskSpace(this.path)).freeBytes
      this.checkedAt = now
    }
    // Synchronous from here: concurrent writers see each other's reservations.
    const available = this.available()
    if (available - bytes < this.minFreeBytes) {
      throw new DiskFullError(
        `${formatBytes(available)} free, a ${formatBytes(bytes)} chunk would leave less than the ` +
          `${formatBytes(this.minFreeBytes)} kept for the database (store.minFreeBytes)`,
      )
    }
    this.pendingBytes += bytes
    let released = false
    return (written) => {
      if (released) return
      released = true
      this.pendingBytes -= bytes
      // On disk now, so no longer free; a reading taken meanwhile may count them twice, which
      // only refuses a little early until the next reading.
      if (written && this.freeBytes !== undefined) this.freeBytes -= bytes
    }
  }

  private available(): number {
    return (this.freeBytes ?? 0) - this.pendingBytes
  }
}
