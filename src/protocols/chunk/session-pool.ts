import type { PeerId } from '@libp2p/interface'
import { ChunkSession, type OpenSessionOptions } from './client.ts'
import { DEFAULT_IDLE_TIMEOUT_MS } from './constants.ts'
import type { ClientHooks } from './types.ts'

/**
 * A returned session is kept this long for the next fetch from the same peer, ms: well inside the
 * server's idle timeout (DEFAULT_IDLE_TIMEOUT_MS), so the server does not close it under a lease.
 */
export const DEFAULT_POOL_IDLE_MS = Math.floor(DEFAULT_IDLE_TIMEOUT_MS / 2)
/** Idle sessions kept per peer, count: each holds one of the server's serving slots. */
export const DEFAULT_POOL_IDLE_PER_PEER = 1

/**
 * How long a returned session may wait for the answers to its cancelled requests before it is
 * closed instead of pooled, ms (a round trip or two on any link a fetch is worth pooling for).
 */
export const DEFAULT_RELEASE_SETTLE_MS = 2_000

type Dialer = Parameters<typeof ChunkSession.open>[0]

export interface SessionPoolInit {
  /** Options of every session the pool opens (timeouts, in-flight cap, peer score). */
  session?: Omit<OpenSessionOptions, 'signal' | keyof ClientHooks>
  idleMs?: number
  idlePerPeer?: number
}

interface Idle {
  session: ChunkSession
  timer: ReturnType<typeof setTimeout>
}

/**
 * Chunk sessions kept open between fetches. A fresh stream costs a protocol negotiation (a round
 * trip) and starts at yamux's 256 KiB window, which on a long fat link makes the first 1 MiB chunk
 * take two round trips and the first megabytes arrive well below the link's rate; a returned
 * session keeps its grown window, so the next fetch from that peer starts at full speed.
 *
 * A session is leased to one user at a time (its hooks are that user's); a second concurrent user
 * of the same peer gets another session. Sessions that failed or were closed are never pooled.
 */
export class ChunkSessionPool {
  private readonly libp2p: Dialer
  private readonly init: SessionPoolInit
  private readonly idle = new Map<string, Idle[]>()
  private closed = false
  /** Leases served from the pool and opened fresh, count (metrics, tests). */
  reused = 0
  opened = 0

  constructor(libp2p: Dialer, init: SessionPoolInit = {}) {
    this.libp2p = libp2p
    this.init = init
  }

  /** A session to `peer` with `hooks`: an idle one when there is (`fresh` false), else a new stream. */
  async acquire(
    peer: PeerId,
    hooks: ClientHooks,
    signal?: AbortSignal,
  ): Promise<{ session: ChunkSession; fresh: boolean }> {
    signal?.throwIfAborted()
    const key = peer.toString()
    const list = this.idle.get(key)
    while (list !== undefined && list.length > 0) {
      const entry = list.pop() as Idle
      clearTimeout(entry.timer)
      if (entry.session.closed) continue
      entry.session.setHooks(hooks)
      this.reused++
      return { session: entry.session, fresh: false }
    }
    this.opened++
    const session = await ChunkSession.open(this.libp2p, peer, {
      ...this.init.session,
      ...hooks,
      ...(signal === undefined ? {} : { signal }),
    })
    return { session, fresh: true }
  }

  /**
   * Gives a session back once its cancelled requests are answered (the server answers every
   * request, a cancelled one with ERR_CANCELLED). An open session with nothing outstanding is kept
   * for the next lease; anything else (failed, still busy after `settleMs`, the pool full or
   * closed) is closed gracefully.
   */
  async release(session: ChunkSession, settleMs = DEFAULT_RELEASE_SETTLE_MS): Promise<void> {
    session.setHooks({})
    const settled = session.queued === 0 && (await session.drained(settleMs))
    const key = session.peerId.toString()
    const list = this.idle.get(key) ?? []
    const keep =
      settled && !this.closed && list.length < (this.init.idlePerPeer ?? DEFAULT_POOL_IDLE_PER_PEER)
    if (!keep) {
      await session.close()
      return
    }
    const entry: Idle = {
      session,
      timer: setTimeout(() => this.expire(key, entry), this.init.idleMs ?? DEFAULT_POOL_IDLE_MS),
    }
    entry.timer.unref?.()
    list.push(entry)
    this.idle.set(key, list)
  }

  /** Idle sessions, count. */
  get size(): number {
    let n = 0
    for (const list of this.idle.values()) n += list.length
    return n
  }

  /** Closes every idle session; later releases close theirs at once. */
  async close(): Promise<void> {
    this.closed = true
    const all = [...this.idle.values()].flat()
    this.idle.clear()
    for (const entry of all) clearTimeout(entry.timer)
    await Promise.allSettled(all.map((entry) => entry.session.close()))
  }

  private expire(key: string, entry: Idle): void {
    const list = this.idle.get(key)
    const at = list?.indexOf(entry) ?? -1
    if (list === undefined || at === -1) return
    list.splice(at, 1)
    if (list.length === 0) this.idle.delete(key)
    void entry.session.close().catch(() => {})
  }
}
