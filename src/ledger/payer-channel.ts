import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { creditsForBytes, isUint } from './credits.ts'
import { InsufficientCredits } from './errors.ts'
import { encodeVoucher, type Voucher, type VoucherFields } from './voucher.ts'

/** Where a channel stands: the fields of the latest voucher this node signed on it (zeros before the first). */
export interface ChannelState {
  payee: string
  channelId: string
  /** Micro-credits per GiB, fixed for the channel's life. */
  pricePerGiB: number
  sequence: number
  cumulativeBytes: number
  cumulativeCredits: number
}

/** What a channel needs from the ledger that owns it. */
export interface ChannelBackend {
  readonly payer: string
  /** Run with every other balance change held off. */
  exclusive<T>(task: () => Promise<T>): Promise<T>
  balance(): number
  now(): number
  sign(fields: VoucherFields): Promise<Voucher>
  /** Store the voucher and the spend in one batch; called inside exclusive(). */
  commit(payee: string, voucher: Voucher): Promise<void>
}

/**
 * The downloader's side of one payer-payee session. Each pay() signs a voucher
 * for everything received so far on the channel and records the spend before
 * returning the bytes to send, so a crash after signing never lets a later
 * voucher reuse a sequence number: after a restart the ledger hands back the
 * same channel continuing from the last stored voucher. A lost voucher costs
 * nothing: the next one is cumulative and covers it.
 */
export class PayerChannel {
  private readonly backend: ChannelBackend
  private state: ChannelState
  private isClosed = false

  constructor(backend: ChannelBackend, state: ChannelState) {
    this.backend = backend
    this.state = { ...state }
  }

  get payee(): string {
    return this.state.payee
  }

  get channelId(): string {
    return this.state.channelId
  }

  get pricePerGiB(): number {
    return this.state.pricePerGiB
  }

  get sequence(): number {
    return this.state.sequence
  }

  get cumulativeBytes(): number {
    return this.state.cumulativeBytes
  }

  /** Micro-credits promised on this channel so far. */
  get cumulativeCredits(): number {
    return this.state.cumulativeCredits
  }

  /** True once the ledger replaced this channel (new price) or closed. */
  get closed(): boolean {
    return this.isClosed
  }

  /** Micro-credits the next pay(bytes) would spend (rounding is over cumulative bytes, so this can be 0). */
  quote(bytes: number): number {
    return (
      creditsForBytes(this.state.cumulativeBytes + bytes, this.state.pricePerGiB) -
      this.state.cumulativeCredits
    )
  }

  /**
   * Pay for `bytesJustReceived` more bytes: returns the encoded, signed voucher
   * to send to the payee. Throws InsufficientCredits (ERR_INSUFFICIENT_CREDITS)
   * without signing when the balance cannot cover it.
   */
  async pay(bytesJustReceived: number): Promise<Uint8Array> {
    if (!isUint(bytesJustReceived) || bytesJustReceived === 0) {
      throw new BwnodeError(
        ERR.INVALID_BYTES,
        `pay() needs a positive whole number of bytes, got ${bytesJustReceived}`,
      )
    }
    return await this.backend.exclusive(async () => {
      if (this.isClosed) throw new BwnodeError(ERR.CHANNEL_CLOSED, `channel ${this.channelId} is closed`)
      const state = this.state
      const cumulativeBytes = state.cumulativeBytes + bytesJustReceived
      if (!Number.isSafeInteger(cumulativeBytes)) {
        throw new BwnodeError(ERR.INVALID_BYTES, 'channel byte count would pass 2^53; open a new channel')
      }
      const cumulativeCredits = creditsForBytes(cumulativeBytes, state.pricePerGiB)
      const cost = cumulativeCredits - state.cumulativeCredits
      const balance = this.backend.balance()
      if (cost > balance) throw new InsufficientCredits(balance, cost)
      const voucher = await this.backend.sign({
        payer: this.backend.payer,
        payee: state.payee,
        channelId: state.channelId,
        sequence: state.sequence + 1,
        cumulativeBytes,
        cumulativeCredits,
        pricePerGiB: state.pricePerGiB,
        timeMs: this.backend.now(),
      })
      await this.backend.commit(state.payee, voucher)
      this.state = { ...state, sequence: voucher.sequence, cumulativeBytes, cumulativeCredits }
      return encodeVoucher(voucher)
    })
  }

  /** Called by the ledger when it replaces or drops this channel; later pay() calls fail with ERR_CHANNEL_CLOSED. */
  close(): void {
    this.isClosed = true
  }
}
