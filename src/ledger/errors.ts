import { ERR } from '../errors/codes.ts'
import { BwnodeError, ProtocolError } from '../errors/index.ts'

/** Why a voucher was refused. Stable codes: peers and the API see them. */
export type VoucherRejectCode =
  | typeof ERR.VOUCHER_MALFORMED
  | typeof ERR.VOUCHER_SIGNATURE
  | typeof ERR.VOUCHER_PAYEE
  | typeof ERR.VOUCHER_PAYER
  | typeof ERR.VOUCHER_SELF
  | typeof ERR.VOUCHER_REPLAY
  | typeof ERR.VOUCHER_PRICE
  | typeof ERR.VOUCHER_AMOUNT

/** A voucher a peer sent was refused: nothing was credited and the rejection was counted against the peer. */
export class VoucherRejected extends ProtocolError {
  override readonly code: VoucherRejectCode

  constructor(code: VoucherRejectCode, message: string) {
    super(code, message)
    this.name = 'VoucherRejected'
    this.code = code
  }
}

export type PaymentErrorCode = typeof ERR.PAYMENT_REQUIRED | typeof ERR.PAYMENT_DISCONNECT

/**
 * The server refuses to serve a peer until it pays. ERR_PAYMENT_REQUIRED: send
 * a voucher and retry. ERR_PAYMENT_DISCONNECT: the peer kept asking while in
 * debt; the caller closes the connection.
 */
export class PaymentRequired extends BwnodeError {
  override readonly code: PaymentErrorCode
  readonly peer: string
  readonly unpaidBytes: number
  readonly requestedBytes: number
  readonly thresholdBytes: number

  constructor(
    code: PaymentErrorCode,
    info: { peer: string; unpaidBytes: number; requestedBytes: number; thresholdBytes: number },
  ) {
    super(
      code,
      `peer ${info.peer} owes for ${info.unpaidBytes} bytes; ${info.requestedBytes} more would pass the ` +
        `${code === ERR.PAYMENT_DISCONNECT ? 'disconnect' : 'payment'} threshold of ${info.thresholdBytes} bytes`,
    )
    this.name = 'PaymentRequired'
    this.code = code
    this.peer = info.peer
    this.unpaidBytes = info.unpaidBytes
    this.requestedBytes = info.requestedBytes
    this.thresholdBytes = info.thresholdBytes
  }
}

/** This node would go below zero by signing the voucher, so it did not sign. */
export class InsufficientCredits extends BwnodeError {
  readonly balance: number
  readonly needed: number

  constructor(balance: number, needed: number) {
    super(ERR.INSUFFICIENT_CREDITS, `balance ${balance} µcr cannot cover ${needed} µcr`)
    this.name = 'InsufficientCredits'
    this.balance = balance
    this.needed = needed
  }
}
