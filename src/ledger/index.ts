export * from './constants.ts'
export { creditsForBytes, formatCredits } from './credits.ts'
export {
  InsufficientCredits,
  type PaymentErrorCode,
  PaymentRequired,
  type VoucherRejectCode,
  VoucherRejected,
} from './errors.ts'
export {
  type Credited,
  Ledger,
  type LedgerInit,
  type LedgerSummary,
  openLedger,
  type PeerSummary,
  type VerifyFailure,
  type VerifyReport,
} from './ledger.ts'
export { type ChannelState, PayerChannel } from './payer-channel.ts'
export type { LedgerDb, LedgerEvent, LedgerEventKind } from './store.ts'
export {
  decodeVoucher,
  encodeVoucher,
  newChannelId,
  signVoucher,
  type Voucher,
  type VoucherFields,
  verifyVoucherSignature,
  voucherSigningBytes,
} from './voucher.ts'
