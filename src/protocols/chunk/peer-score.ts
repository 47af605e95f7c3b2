import type { PeerId } from '@libp2p/interface'
import {
  DEFAULT_PEER_SCORE_DROP_THRESHOLD,
  DEFAULT_PEER_SCORE_MAX_PEERS,
  DEFAULT_PEER_SCORE_WINDOW_MS,
} from './constants.ts'
import type { Clock } from './types.ts'

export interface PeerScoreInit {
  /** Violations within the window at which shouldDrop() turns true, count. */
  dropThreshold?: number
  /** How long a violation counts, in ms. */
  windowMs?: number
  /** Peers remembered at most; the least recently seen is forgotten first, count. */
  maxPeers?: number
  clock?: Clock
}

export interface Violation {
  reason: string
  at: number
}

/**
 * Counts protocol violations per peer (garbage frames, timeouts, stalled reads) so a node can
 * refuse peers that keep misbehaving. Memory is bounded by maxPeers; old violations expire.
 */
export class PeerScore {
  private readonly dropThreshold: number
  private readonly windowMs: number
  private readonly maxPeers: number
  private readonly clock: Clock
  /** Insertion order doubles as recency order: a peer is re-inserted on each record. */
  private readonly violations = new Map<string, Violation[]>()

  constructor(init: PeerScoreInit = {}) {
    this.dropThreshold = init.dropThreshold ?? DEFAULT_PEER_SCORE_DROP_THRESHOLD
    this.windowMs = init.windowMs ?? DEFAULT_PEER_SCORE_WINDOW_MS
    this.maxPeers = init.maxPeers ?? DEFAULT_PEER_SCORE_MAX_PEERS
    this.clock = init.clock ?? Date
  }

  record(peerId: PeerId, reason: string): void {
    const key = peerId.toString()
    const list = this.live(key)
    list.push({ reason, at: this.clock.now() })
    // Keep at most threshold entries: older ones cannot change the verdict.
    if (list.length > this.dropThreshold) list.splice(0, list.length - this.dropThreshold)
    this.violations.delete(key)
    this.violations.set(key, list)
    while (this.violations.size > this.maxPeers) {
      const oldest = this.violations.keys().next().value
      if (oldest === undefined) break
      this.violations.delete(oldest)
    }
  }

  /** Violations of this peer still inside the window. */
  count(peerId: PeerId): number {
    return this.live(peerId.toString()).length
  }

  reasons(peerId: PeerId): string[] {
    return this.live(peerId.toString()).map((v) => v.reason)
  }

  shouldDrop(peerId: PeerId): boolean {
    return this.count(peerId) >= this.dropThreshold
  }

  forget(peerId: PeerId): void {
    this.violations.delete(peerId.toString())
  }

  private live(key: string): Violation[] {
    const list = this.violations.get(key)
    if (list === undefined) return []
    const cutoff = this.clock.now() - this.windowMs
    const firstLive = list.findIndex((v) => v.at > cutoff)
    if (firstLive === -1) {
      this.violations.delete(key)
      return []
    }
    if (firstLive > 0) list.splice(0, firstLive)
    return list
  }
}
