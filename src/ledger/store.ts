import type { Database } from '../db/database.ts'
import { decodeVoucher, encodeVoucher, type Voucher } from './voucher.ts'

/**
 * LevelDB layout of the ledger, all under the sublevel 'ledger':
 *   meta         'grant' -> GrantRecord              written once, on first open
 *   totals       'self' -> SelfTotals                 earned/spent of this node
 *   peer-totals  <peer> -> PeerTotals                 earned from / spent to each peer
 *   vouchers-in  <payer>/<channel> -> StoredVoucher   latest voucher received per channel
 *   vouchers-out <payee>/<channel> -> StoredVoucher   latest voucher this node signed per channel
 *   channels     <payee> -> ChannelPointer            the channel this node currently pays a payee on
 *   peer-stats   <peer> -> PeerStats                  served bytes, rejections (write-behind)
 *   events       <16-digit counter> -> LedgerEvent    recent history, pruned
 * Totals are a cache of sums over the vouchers: every change writes the voucher
 * and the totals in one batch, and verifyAll recomputes them.
 */
export interface GrantRecord {
  /** Micro-credits. */
  grantCredits: number
  createdAt: number
}

export interface SelfTotals {
  /** Micro-credits earned: sum of cumulative credits over vouchers-in. */
  earned: number
  /** Micro-credits spent: sum of cumulative credits over vouchers-out. */
  spent: number
}

export interface PeerTotals {
  earned: number
  spent: number
  /** Bytes this peer's vouchers to us cover (sum of cumulative bytes over its channels). */
  paidBytes: number
  /** Bytes our vouchers to this peer cover. */
  boughtBytes: number
}

export interface PeerStats {
  servedBytes: number
  rejected: number
}

export interface ChannelPointer {
  channelId: string
  pricePerGiB: number
}

export interface StoredVoucher {
  /** The voucher's wire bytes, base64: exactly what was signed, ready to redeem. */
  voucher: string
  at: number
}

export type LedgerEventKind = 'earn' | 'spend' | 'reject'

export interface LedgerEvent {
  time: number
  peer: string
  kind: LedgerEventKind
  /** Bytes this event paid for (0 for a rejection). */
  bytes: number
  /** Micro-credits moved (0 for a rejection). */
  credits: number
  channelId?: string
  sequence?: number
  /** Rejection code, for kind 'reject'. */
  code?: string
}

export function emptyPeerTotals(): PeerTotals {
  return { earned: 0, spent: 0, paidBytes: 0, boughtBytes: 0 }
}

export function voucherKey(peer: string, channelId: string): string {
  return `${peer}/${channelId}`
}

export function eventKey(counter: number): string {
  return String(counter).padStart(16, '0')
}

export function storeVoucher(voucher: Voucher, at: number): StoredVoucher {
  return { voucher: Buffer.from(encodeVoucher(voucher)).toString('base64'), at }
}

export function loadVoucher(stored: StoredVoucher): Voucher {
  return decodeVoucher(Buffer.from(stored.voucher, 'base64'))
}

/**
 * The node's Database or any sublevel of it: the ledger only makes its own
 * sublevel inside. (level's types make a sublevel and its parent incompatible
 * types, though their API is the same.)
 */
export interface LedgerDb {
  sublevel(name: string): unknown
}

export function openLedgerStore(db: LedgerDb) {
  // Typed as a child of Database so one set of batch types serves both cases.
  const root = (db as Pick<Database, 'sublevel'>).sublevel('ledger')
  const json = { valueEncoding: 'json' } as const
  return {
    root,
    meta: root.sublevel<string, GrantRecord>('meta', json),
    totals: root.sublevel<string, SelfTotals>('totals', json),
    peerTotals: root.sublevel<string, PeerTotals>('peer-totals', json),
    vouchersIn: root.sublevel<string, StoredVoucher>('vouchers-in', json),
    vouchersOut: root.sublevel<string, StoredVoucher>('vouchers-out', json),
    channels: root.sublevel<string, ChannelPointer>('channels', json),
    peerStats: root.sublevel<string, PeerStats>('peer-stats', json),
    events: root.sublevel<string, LedgerEvent>('events', json),
  }
}

export type LedgerStore = ReturnType<typeof openLedgerStore>
