import { randomBytes as nodeRandomBytes } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, ConfigError } from '../errors/index.ts'
import {
  DEFAULT_DISCONNECT_THRESHOLD_BYTES,
  DEFAULT_GRANT_CREDITS,
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_HISTORY_RETAIN_EVENTS,
  DEFAULT_PAYMENT_THRESHOLD_BYTES,
} from './constants.ts'
import { creditsForBytes, isUint } from './credits.ts'
import { InsufficientCredits, PaymentRequired, type VoucherRejectCode, VoucherRejected } from './errors.ts'
import { EventHistory } from './history.ts'
import { type ChannelBackend, type ChannelState, PayerChannel } from './payer-channel.ts'
import { Serial } from './serial.ts'
import {
  type ChannelPointer,
  emptyPeerTotals,
  type LedgerDb,
  type LedgerEvent,
  type LedgerStore,
  loadVoucher,
  openLedgerStore,
  type PeerStats,
  type PeerTotals,
  type StoredVoucher,
  storeVoucher,
  voucherKey,
} from './store.ts'
import { decodeVoucher, newChannelId, signVoucher, type Voucher, verifyVoucherSignature } from './voucher.ts'

const log = logger('bwnode:ledger')

/** Channels whose latest voucher is kept decoded in memory, per direction. */
const VOUCHER_CACHE_SIZE = 4096

type VoucherSublevel = LedgerStore['vouchersIn']
type LedgerSublevel = LedgerStore[Exclude<keyof LedgerStore, 'root'>]
/** One put or del of a ledger batch, on one of the ledger's sublevels. */
type BatchOp =
  | { type: 'put'; sublevel: LedgerSublevel; key: string; value: unknown }
  | { type: 'del'; sublevel: LedgerSublevel; key: string }

export interface LedgerInit {
  /** The node's Database or a sublevel of it; the ledger keeps its keys under 'ledger'. */
  db: LedgerDb
  self: PeerId
  /** Signs this node's vouchers; must be the key of `self`. */
  privateKey: PrivateKey
  /** Simulated starting deposit, micro-credits; recorded on first open and kept after. */
  grantCredits?: number
  paymentThresholdBytes?: number
  disconnectThresholdBytes?: number
  historyRetainEvents?: number
  /** ms since the epoch. */
  clock?: () => number
  randomBytes?: (size: number) => Uint8Array
}

export interface PeerSummary {
  peerId: string
  /** Micro-credits this node earned from the peer. */
  earned: number
  /** Micro-credits this node spent on the peer. */
  spent: number
  servedBytes: number
  paidBytes: number
  boughtBytes: number
  /** Bytes served to the peer and not yet covered by its vouchers (never below 0). */
  unpaidBytes: number
  rejected: number
}

export interface LedgerSummary {
  /** grant + earned - spent, micro-credits. */
  balance: number
  earned: number
  spent: number
  grant: number
  peers: PeerSummary[]
}

/** What one accepted voucher added. */
export interface Credited {
  voucher: Voucher
  credits: number
  bytes: number
}

export interface VerifyFailure {
  what: string
  reason: string
}

export interface VerifyReport {
  ok: boolean
  /** Vouchers whose signature and amounts were checked. */
  checked: number
  failures: VerifyFailure[]
}

interface PeerState extends PeerTotals, PeerStats {
  /** Bytes the peer asked for while refused since its last accepted voucher; drives the disconnect. */
  refusedBytes: number
}

type Problem = { code: VoucherRejectCode; message: string }
type Advance = { credits: number; bytes: number }

/**
 * Compare a voucher with the latest stored one of its channel: the price is
 * fixed per channel, credits must be exactly those owed for the bytes, and
 * sequence and bytes must both move forward.
 */
function checkAdvance(prev: Voucher | undefined, next: Voucher): Problem | Advance {
  let owed: number
  try {
    owed = creditsForBytes(next.cumulativeBytes, next.pricePerGiB)
  } catch {
    return { code: ERR.VOUCHER_AMOUNT, message: 'credits for these bytes exceed 2^53' }
  }
  if (next.cumulativeCredits !== owed) {
    return {
      code: ERR.VOUCHER_AMOUNT,
      message: `${next.cumulativeBytes} bytes at ${next.pricePerGiB} µcr/GiB owe ${owed} µcr, voucher says ${next.cumulativeCredits}`,
    }
  }
  if (prev !== undefined && prev.pricePerGiB !== next.pricePerGiB) {
    return {
      code: ERR.VOUCHER_PRICE,
      message: `channel price is ${prev.pricePerGiB} µcr/GiB, voucher says ${next.pricePerGiB}`,
    }
  }
  const prevSequence = prev?.sequence ?? 0
  if (next.sequence <= prevSequence) {
    return { code: ERR.VOUCHER_REPLAY, message: `sequence ${next.sequence} is not above ${prevSequence}` }
  }
  const prevBytes = prev?.cumulativeBytes ?? 0
  if (next.cumulativeBytes <= prevBytes) {
    return {
      code: ERR.VOUCHER_AMOUNT,
      message: `cumulative bytes ${next.cumulativeBytes} are not above ${prevBytes}`,
    }
  }
  return {
    credits: next.cumulativeCredits - (prev?.cumulativeCredits ?? 0),
    bytes: next.cumulativeBytes - prevBytes,
  }
}

function isProblem(result: Problem | Advance): result is Problem {
  return 'code' in result
}

function peerString(peer: PeerId | string): string {
  return typeof peer === 'string' ? peer : peer.toString()
}

function positiveInt(value: number, name: string): number {
  if (!isUint(value) || value === 0)
    throw new ConfigError(`${name} must be a positive whole number, got ${value}`)
  return value
}

/**
 * One per node: the credits it holds, earns by serving and spends by
 * downloading. Earned and spent are sums over the latest voucher of every
 * channel; each change writes the voucher and the new sums in one LevelDB
 * batch, so a crash at any point leaves them consistent (verifyAll checks).
 * Served-byte counters and rejection counts are enforcement state, not money:
 * they are kept in memory and written behind.
 */
export class Ledger {
  readonly self: string
  readonly paymentThresholdBytes: number
  readonly disconnectThresholdBytes: number
  private readonly store: LedgerStore
  private readonly privateKey: PrivateKey
  private readonly configuredGrant: number
  private readonly eventLog: EventHistory
  private readonly clock: () => number
  private readonly random: (size: number) => Uint8Array
  private readonly serial = new Serial()
  private readonly backend: ChannelBackend
  private readonly channels = new Map<string, PayerChannel>()
  private readonly peers = new Map<string, PeerState>()
  private readonly latestIn = new Map<string, Voucher>()
  private readonly latestOut = new Map<string, Voucher>()
  private grantMicro = 0
  private earnedMicro = 0
  private spentMicro = 0
  private state: 'new' | 'open' | 'closed' = 'new'
  private readonly dirtyStats = new Set<string>()
  /** Rejections waiting for the next write; they get their history keys when it is staged. */
  private pendingEvents: LedgerEvent[] = []
  private writeScheduled = false
  private writes: Promise<void> = Promise.resolve()

  constructor(init: LedgerInit) {
    this.self = init.self.toString()
    if (peerIdFromPrivateKey(init.privateKey).toString() !== this.self) {
      throw new ConfigError(`privateKey is not the key of ${this.self}`)
    }
    this.store = openLedgerStore(init.db)
    this.privateKey = init.privateKey
    const grant = init.grantCredits ?? DEFAULT_GRANT_CREDITS
    if (!isUint(grant))
      throw new ConfigError(`grantCredits must be a whole number of micro-credits, got ${grant}`)
    this.configuredGrant = grant
    this.paymentThresholdBytes = positiveInt(
      init.paymentThresholdBytes ?? DEFAULT_PAYMENT_THRESHOLD_BYTES,
      'paymentThresholdBytes',
    )
    this.disconnectThresholdBytes = positiveInt(
      init.disconnectThresholdBytes ?? DEFAULT_DISCONNECT_THRESHOLD_BYTES,
      'disconnectThresholdBytes',
    )
    if (this.disconnectThresholdBytes <= this.paymentThresholdBytes) {
      throw new ConfigError(
        `disconnectThresholdBytes (${this.disconnectThresholdBytes}) must be above paymentThresholdBytes (${this.paymentThresholdBytes})`,
      )
    }
    this.eventLog = new EventHistory(
      this.store.events,
      positiveInt(init.historyRetainEvents ?? DEFAULT_HISTORY_RETAIN_EVENTS, 'historyRetainEvents'),
    )
    this.clock = init.clock ?? Date.now
    this.random = init.randomBytes ?? nodeRandomBytes
    this.backend = {
      payer: this.self,
      exclusive: (task) => this.serial.run(task),
      balance: () => this.balance,
      now: () => this.clock(),
      sign: (fields) => signVoucher(this.privateKey, fields),
      commit: async (payee, voucher) => {
        // Signed a moment ago by this ledger's own key: no need to verify it again.
        await this.commitSpend(payee, voucher, { signedHere: true })
      },
    }
  }

  /** Load balances and counters from the database. Call once before anything else. */
  async open(): Promise<void> {
    if (this.state !== 'new') throw new BwnodeError(ERR.LEDGER_STATE, `ledger is ${this.state}`)
    const s = this.store
    const grant = await s.meta.get('grant')
    if (grant === undefined) {
      await s.meta.put('grant', { grantCredits: this.configuredGrant, createdAt: this.clock() })
      this.grantMicro = this.configuredGrant
    } else {
      this.grantMicro = grant.grantCredits
      if (grant.grantCredits !== this.configuredGrant) {
        log(
          'grant was recorded as %d µcr when the ledger was created; keeping it over %d',
          grant.grantCredits,
          this.configuredGrant,
        )
      }
    }
    const totals = await s.totals.get('self')
    this.earnedMicro = totals?.earned ?? 0
    this.spentMicro = totals?.spent ?? 0
    for await (const [peer, peerTotals] of s.peerTotals.iterator()) {
      Object.assign(this.peer(peer), peerTotals)
    }
    for await (const [peer, stats] of s.peerStats.iterator()) {
      Object.assign(this.peer(peer), stats)
    }
    await this.eventLog.open()
    this.state = 'open'
  }

  /** Wait for changes in progress and write served/rejected counters. Does not close the database. */
  async close(): Promise<void> {
    if (this.state !== 'open') return
    await this.serial.run(async () => {})
    this.state = 'closed'
    for (const channel of this.channels.values()) channel.close()
    this.channels.clear()
    await this.flush()
  }

  /** Micro-credits this node can spend: grant + earned - spent. */
  get balance(): number {
    return this.grantMicro + this.earnedMicro - this.spentMicro
  }

  get grant(): number {
    return this.grantMicro
  }

  get earned(): number {
    return this.earnedMicro
  }

  get spent(): number {
    return this.spentMicro
  }

  /** Up-front check before a fetch: can this node pay for `bytes` at `pricePerGiB`? */
  canAfford(bytes: number, pricePerGiB: number): boolean {
    return creditsForBytes(bytes, pricePerGiB) <= this.balance
  }

  /** Served bytes not yet covered by the peer's vouchers. */
  unpaidBytes(peer: PeerId | string): number {
    const state = this.peers.get(peerString(peer))
    return state === undefined ? 0 : Math.max(0, state.servedBytes - state.paidBytes)
  }

  /**
   * Call before serving `bytes` to `peer`. Counts them as served, or throws
   * PaymentRequired without counting: ERR_PAYMENT_REQUIRED when the peer's
   * unpaid bytes would pass the payment threshold (it should pay and retry),
   * ERR_PAYMENT_DISCONNECT when its unpaid bytes plus what it asked for while
   * refused pass the disconnect threshold (the caller closes the connection).
   */
  chargeServe(peer: PeerId | string, bytes: number): void {
    this.assertOpen()
    if (!isUint(bytes)) throw new BwnodeError(ERR.INVALID_BYTES, `bytes must be a whole number, got ${bytes}`)
    const id = peerString(peer)
    const state = this.peer(id)
    const owed = state.servedBytes - state.paidBytes
    if (owed + bytes > this.paymentThresholdBytes) {
      state.refusedBytes += bytes
      const unpaidBytes = Math.max(0, owed)
      const info = { peer: id, unpaidBytes, requestedBytes: bytes }
      if (unpaidBytes + state.refusedBytes > this.disconnectThresholdBytes) {
        throw new PaymentRequired(ERR.PAYMENT_DISCONNECT, {
          ...info,
          thresholdBytes: this.disconnectThresholdBytes,
        })
      }
      throw new PaymentRequired(ERR.PAYMENT_REQUIRED, {
        ...info,
        thresholdBytes: this.paymentThresholdBytes,
      })
    }
    state.servedBytes += bytes
    this.markDirty(id)
  }

  /** Undo a chargeServe whose bytes were not sent after all (chunk missing, stream aborted). */
  releaseServe(peer: PeerId | string, bytes: number): void {
    this.assertOpen()
    if (!isUint(bytes)) throw new BwnodeError(ERR.INVALID_BYTES, `bytes must be a whole number, got ${bytes}`)
    const id = peerString(peer)
    const state = this.peer(id)
    state.servedBytes = Math.max(0, state.servedBytes - bytes)
    this.markDirty(id)
  }

  /**
   * Check and store a voucher `fromPeer` sent us for data we serve at
   * `expectedPricePerGiB` (our offer). On success the voucher becomes the
   * latest of its channel and the credits it adds are earned, in one batch.
   * On failure throws VoucherRejected with a reason code; nothing is credited
   * and the rejection is counted against the peer.
   */
  async acceptVoucher(
    fromPeer: PeerId | string,
    bytes: Uint8Array,
    expectedPricePerGiB: number,
  ): Promise<Credited> {
    this.assertOpen()
    if (!isUint(expectedPricePerGiB)) {
      // The caller's mistake, not the peer's: do not count it as a rejection.
      throw new BwnodeError(
        ERR.INVALID_PRICE,
        `offer price must be whole µcr/GiB, got ${expectedPricePerGiB}`,
      )
    }
    const from = peerString(fromPeer)
    return await this.serial.run(async () => {
      try {
        return await this.accept(from, bytes, expectedPricePerGiB)
      } catch (err) {
        if (err instanceof VoucherRejected) this.countRejection(from, err.code)
        throw err
      }
    })
  }

  private async accept(from: string, bytes: Uint8Array, expectedPricePerGiB: number): Promise<Credited> {
    let voucher: Voucher
    try {
      voucher = decodeVoucher(bytes)
    } catch (err) {
      throw new VoucherRejected(ERR.VOUCHER_MALFORMED, (err as Error).message)
    }
    if (voucher.payee !== this.self) {
      throw new VoucherRejected(ERR.VOUCHER_PAYEE, `voucher pays ${voucher.payee}, not this node`)
    }
    if (voucher.payer === this.self)
      throw new VoucherRejected(ERR.VOUCHER_SELF, 'voucher from this node to itself')
    if (voucher.payer !== from) {
      throw new VoucherRejected(ERR.VOUCHER_PAYER, `voucher of ${voucher.payer} sent by ${from}`)
    }
    if (!(await verifyVoucherSignature(voucher))) {
      throw new VoucherRejected(ERR.VOUCHER_SIGNATURE, 'signature does not verify under the payer key')
    }
    if (voucher.pricePerGiB < expectedPricePerGiB) {
      throw new VoucherRejected(
        ERR.VOUCHER_PRICE,
        `voucher price ${voucher.pricePerGiB} µcr/GiB is below the offer ${expectedPricePerGiB}`,
      )
    }
    const s = this.store
    const key = voucherKey(voucher.payer, voucher.channelId)
    const advance = checkAdvance(await this.latest(s.vouchersIn, key), voucher)
    if (isProblem(advance)) throw new VoucherRejected(advance.code, advance.message)

    const peer = this.peer(from)
    const earned = this.earnedMicro + advance.credits
    const totals: PeerTotals = {
      earned: peer.earned + advance.credits,
      spent: peer.spent,
      paidBytes: peer.paidBytes + advance.bytes,
      boughtBytes: peer.boughtBytes,
    }
    if (!Number.isSafeInteger(earned) || !Number.isSafeInteger(totals.paidBytes)) {
      throw new VoucherRejected(ERR.VOUCHER_AMOUNT, 'totals would pass 2^53')
    }
    const now = this.clock()
    const event: LedgerEvent = {
      time: now,
      peer: from,
      kind: 'earn',
      bytes: advance.bytes,
      credits: advance.credits,
      channelId: voucher.channelId,
      sequence: voucher.sequence,
    }
    await this.write(
      [
        { type: 'put', sublevel: s.vouchersIn, key, value: storeVoucher(voucher, now) },
        { type: 'put', sublevel: s.totals, key: 'self', value: { earned, spent: this.spentMicro } },
        { type: 'put', sublevel: s.peerTotals, key: from, value: totals },
      ],
      [event],
    )
    // Memory follows only once the batch is written.
    this.remember(s.vouchersIn, key, voucher)
    this.earnedMicro = earned
    Object.assign(peer, totals)
    peer.refusedBytes = 0
    return { voucher, credits: advance.credits, bytes: advance.bytes }
  }

  /**
   * Record a voucher this node signed for `payee`: the voucher copy and the
   * new spent totals in one batch. Throws InsufficientCredits when the balance
   * would go negative. PayerChannel.pay() calls this for you; use it directly
   * only for vouchers signed outside a PayerChannel.
   */
  async recordSpend(payee: PeerId | string, voucher: Voucher): Promise<Credited> {
    this.assertOpen()
    const id = peerString(payee)
    return await this.serial.run(() => this.commitSpend(id, voucher))
  }

  private async commitSpend(payee: string, voucher: Voucher, { signedHere = false } = {}): Promise<Credited> {
    if (voucher.payer !== this.self) {
      throw new BwnodeError(ERR.VOUCHER_PAYER, `voucher is from ${voucher.payer}, not this node`)
    }
    if (voucher.payee !== payee)
      throw new BwnodeError(ERR.VOUCHER_PAYEE, `voucher pays ${voucher.payee}, not ${payee}`)
    if (payee === this.self) throw new BwnodeError(ERR.VOUCHER_SELF, 'this node cannot pay itself')
    if (!signedHere && !(await verifyVoucherSignature(voucher))) {
      throw new BwnodeError(ERR.VOUCHER_SIGNATURE, 'voucher signature does not verify')
    }
    const s = this.store
    const key = voucherKey(payee, voucher.channelId)
    const advance = checkAdvance(await this.latest(s.vouchersOut, key), voucher)
    if (isProblem(advance)) throw new BwnodeError(advance.code, advance.message)
    const balance = this.balance
    if (advance.credits > balance) throw new InsufficientCredits(balance, advance.credits)

    const peer = this.peer(payee)
    const spent = this.spentMicro + advance.credits
    const totals: PeerTotals = {
      earned: peer.earned,
      spent: peer.spent + advance.credits,
      paidBytes: peer.paidBytes,
      boughtBytes: peer.boughtBytes + advance.bytes,
    }
    const now = this.clock()
    const pointer: ChannelPointer = { channelId: voucher.channelId, pricePerGiB: voucher.pricePerGiB }
    const event: LedgerEvent = {
      time: now,
      peer: payee,
      kind: 'spend',
      bytes: advance.bytes,
      credits: advance.credits,
      channelId: voucher.channelId,
      sequence: voucher.sequence,
    }
    await this.write(
      [
        { type: 'put', sublevel: s.vouchersOut, key, value: storeVoucher(voucher, now) },
        { type: 'put', sublevel: s.channels, key: payee, value: pointer },
        { type: 'put', sublevel: s.totals, key: 'self', value: { earned: this.earnedMicro, spent } },
        { type: 'put', sublevel: s.peerTotals, key: payee, value: totals },
      ],
      [event],
    )
    this.remember(s.vouchersOut, key, voucher)
    this.spentMicro = spent
    Object.assign(peer, totals)
    return { voucher, credits: advance.credits, bytes: advance.bytes }
  }

  /**
   * The channel to pay `payee` on at `pricePerGiB` (micro-credits per GiB).
   * Continues the stored channel when its price matches, so sequences keep
   * rising across restarts; a different price starts a new channel (a
   * channel's price never changes) and closes the old PayerChannel object.
   */
  async openChannel(payee: PeerId | string, pricePerGiB: number): Promise<PayerChannel> {
    this.assertOpen()
    const id = peerString(payee)
    if (id === this.self) throw new BwnodeError(ERR.VOUCHER_SELF, 'this node cannot pay itself')
    if (!isUint(pricePerGiB))
      throw new BwnodeError(ERR.INVALID_PRICE, `price must be whole µcr/GiB, got ${pricePerGiB}`)
    return await this.serial.run(async () => {
      const cached = this.channels.get(id)
      if (cached !== undefined && !cached.closed && cached.pricePerGiB === pricePerGiB) return cached
      cached?.close()
      const s = this.store
      const pointer = await s.channels.get(id)
      let state: ChannelState = {
        payee: id,
        channelId: newChannelId(this.random),
        pricePerGiB,
        sequence: 0,
        cumulativeBytes: 0,
        cumulativeCredits: 0,
      }
      if (pointer !== undefined && pointer.pricePerGiB === pricePerGiB) {
        const last = await this.latest(s.vouchersOut, voucherKey(id, pointer.channelId))
        if (last !== undefined) {
          state = {
            payee: id,
            channelId: last.channelId,
            pricePerGiB,
            sequence: last.sequence,
            cumulativeBytes: last.cumulativeBytes,
            cumulativeCredits: last.cumulativeCredits,
          }
        }
      }
      const channel = new PayerChannel(this.backend, state)
      this.channels.set(id, channel)
      return channel
    })
  }

  summary(): LedgerSummary {
    const peers: PeerSummary[] = [...this.peers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([peerId, p]) => ({
        peerId,
        earned: p.earned,
        spent: p.spent,
        servedBytes: p.servedBytes,
        paidBytes: p.paidBytes,
        boughtBytes: p.boughtBytes,
        unpaidBytes: Math.max(0, p.servedBytes - p.paidBytes),
        rejected: p.rejected,
      }))
    return {
      balance: this.balance,
      earned: this.earnedMicro,
      spent: this.spentMicro,
      grant: this.grantMicro,
      peers,
    }
  }

  /** The most recent ledger events, newest first. */
  async history(limit: number = DEFAULT_HISTORY_LIMIT): Promise<LedgerEvent[]> {
    await this.flush()
    const events: LedgerEvent[] = []
    for await (const event of this.store.events.values({ reverse: true, limit })) events.push(event)
    return events
  }

  /**
   * Re-verify every stored voucher (signature, parties, credits for bytes) and
   * that the stored and in-memory totals equal the sums over the latest
   * vouchers. Reads a consistent state: changes wait until it is done.
   */
  async verifyAll(): Promise<VerifyReport> {
    this.assertOpen()
    return await this.serial.run(() => this.verifyAllNow())
  }

  private async verifyAllNow(): Promise<VerifyReport> {
    const s = this.store
    const failures: VerifyFailure[] = []
    const fail = (what: string, reason: string) => failures.push({ what, reason })
    const sums = new Map<string, PeerTotals>()
    const sumFor = (peer: string) => {
      let sum = sums.get(peer)
      if (sum === undefined) {
        sum = emptyPeerTotals()
        sums.set(peer, sum)
      }
      return sum
    }
    let checked = 0
    let earned = 0
    let spent = 0

    const check = async (
      direction: 'in' | 'out',
      key: string,
      stored: StoredVoucher,
    ): Promise<Voucher | undefined> => {
      checked++
      const what = `vouchers-${direction} ${key}`
      let voucher: Voucher
      try {
        voucher = loadVoucher(stored)
      } catch (err) {
        fail(what, `undecodable: ${(err as Error).message}`)
        return undefined
      }
      const counterparty = direction === 'in' ? voucher.payer : voucher.payee
      if (key !== voucherKey(counterparty, voucher.channelId)) fail(what, 'key does not match the voucher')
      if (direction === 'in' && voucher.payee !== this.self)
        fail(what, 'received voucher does not pay this node')
      if (direction === 'out' && voucher.payer !== this.self) fail(what, 'sent voucher is not from this node')
      if (voucher.payer === voucher.payee) fail(what, 'payer and payee are the same')
      if (!(await verifyVoucherSignature(voucher))) fail(what, 'signature does not verify')
      const advance = checkAdvance(undefined, voucher)
      if (isProblem(advance)) fail(what, advance.message)
      return voucher
    }

    for await (const [key, stored] of s.vouchersIn.iterator()) {
      const voucher = await check('in', key, stored)
      if (voucher === undefined) continue
      earned += voucher.cumulativeCredits
      sumFor(voucher.payer).earned += voucher.cumulativeCredits
      sumFor(voucher.payer).paidBytes += voucher.cumulativeBytes
    }
    for await (const [key, stored] of s.vouchersOut.iterator()) {
      const voucher = await check('out', key, stored)
      if (voucher === undefined) continue
      spent += voucher.cumulativeCredits
      sumFor(voucher.payee).spent += voucher.cumulativeCredits
      sumFor(voucher.payee).boughtBytes += voucher.cumulativeBytes
    }
    for await (const [payee, pointer] of s.channels.iterator()) {
      const stored = await s.vouchersOut.get(voucherKey(payee, pointer.channelId))
      if (stored === undefined) fail(`channels ${payee}`, 'points at a channel with no stored voucher')
      else if (loadVoucher(stored).pricePerGiB !== pointer.pricePerGiB)
        fail(`channels ${payee}`, 'price differs')
    }

    const totals = (await s.totals.get('self')) ?? { earned: 0, spent: 0 }
    if (totals.earned !== earned) fail('totals earned', `stored ${totals.earned}, vouchers sum to ${earned}`)
    if (totals.spent !== spent) fail('totals spent', `stored ${totals.spent}, vouchers sum to ${spent}`)
    if (this.earnedMicro !== earned || this.spentMicro !== spent) {
      fail('memory totals', `earned ${this.earnedMicro}/${earned}, spent ${this.spentMicro}/${spent}`)
    }
    const storedPeers = new Map<string, PeerTotals>()
    for await (const [peer, peerTotals] of s.peerTotals.iterator()) storedPeers.set(peer, peerTotals)
    for (const peer of new Set([...storedPeers.keys(), ...sums.keys()])) {
      const want = sums.get(peer) ?? emptyPeerTotals()
      const have = storedPeers.get(peer) ?? emptyPeerTotals()
      const inMemory = this.peers.get(peer) ?? emptyPeerTotals()
      for (const field of ['earned', 'spent', 'paidBytes', 'boughtBytes'] as const) {
        if (have[field] !== want[field])
          fail(`peer-totals ${peer}`, `${field} stored ${have[field]}, vouchers ${want[field]}`)
        if (inMemory[field] !== want[field]) {
          fail(`peer ${peer}`, `${field} in memory ${inMemory[field]}, vouchers ${want[field]}`)
        }
      }
    }
    if (this.grantMicro + earned - spent < 0)
      fail('balance', `grant ${this.grantMicro} + earned ${earned} - spent ${spent} < 0`)
    return { ok: failures.length === 0, checked, failures }
  }

  /** Write served-byte and rejection counters and rejection events now. */
  async flush(): Promise<void> {
    this.writeScheduled = false
    const peers = [...this.dirtyStats]
    this.dirtyStats.clear()
    if (peers.length === 0 && this.pendingEvents.length === 0) {
      await this.writes
      return
    }
    const s = this.store
    const ops = peers.map((peer) => {
      const p = this.peer(peer)
      const value: PeerStats = { servedBytes: p.servedBytes, rejected: p.rejected }
      return { type: 'put' as const, sublevel: s.peerStats, key: peer, value }
    })
    await this.write(ops, [])
  }

  /**
   * Write one batch: `ops`, then the pending rejections and `events` with the
   * history pruned back to its bound. Every batch goes through one chain, so an
   * older snapshot never lands after a newer one and a history key is only ever
   * deleted after (or with) the batch that put it; a failed write does not block
   * later ones.
   */
  private write(ops: readonly BatchOp[], events: readonly LedgerEvent[]): Promise<void> {
    const staged = this.eventLog.stage([...this.pendingEvents, ...events])
    this.pendingEvents = []
    const all = [...ops, ...staged.ops]
    const write = this.writes.then(() => this.store.root.batch<string, unknown>(all, {}))
    this.writes = write.catch(() => {})
    return write.then(() => staged.written())
  }

  private markDirty(peer: string): void {
    this.dirtyStats.add(peer)
    if (this.writeScheduled) return
    this.writeScheduled = true
    queueMicrotask(() => {
      this.flush().catch((err: unknown) => log.error('writing peer counters failed: %e', err))
    })
  }

  private countRejection(peer: string, code: string): void {
    this.peer(peer).rejected++
    this.pendingEvents.push({ time: this.clock(), peer, kind: 'reject', bytes: 0, credits: 0, code })
    this.markDirty(peer)
  }

  /** Latest voucher of a channel, from memory or the database. */
  private async latest(sublevel: VoucherSublevel, key: string): Promise<Voucher | undefined> {
    const cache = sublevel === this.store.vouchersIn ? this.latestIn : this.latestOut
    const known = cache.get(key)
    if (known !== undefined) return known
    const stored = await sublevel.get(key)
    if (stored === undefined) return undefined
    const voucher = loadVoucher(stored)
    this.remember(sublevel, key, voucher)
    return voucher
  }

  private remember(sublevel: VoucherSublevel, key: string, voucher: Voucher): void {
    const cache = sublevel === this.store.vouchersIn ? this.latestIn : this.latestOut
    // A cache, not the truth: dropping it only costs reads from LevelDB.
    if (cache.size >= VOUCHER_CACHE_SIZE) cache.clear()
    cache.set(key, voucher)
  }

  private peer(peer: string): PeerState {
    let state = this.peers.get(peer)
    if (state === undefined) {
      state = { ...emptyPeerTotals(), servedBytes: 0, rejected: 0, refusedBytes: 0 }
      this.peers.set(peer, state)
    }
    return state
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new BwnodeError(ERR.LEDGER_STATE, `ledger is ${this.state}, not open`)
  }
}

/** Construct and open a Ledger. */
export async function openLedger(init: LedgerInit): Promise<Ledger> {
  const ledger = new Ledger(init)
  await ledger.open()
  return ledger
}
