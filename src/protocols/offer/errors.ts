import type { ErrorCode } from '../../errors/codes.ts'
import { ProtocolError } from '../../errors/index.ts'

/**
 * Why an offer record was refused. Codes:
 * ERR_OFFER_TOO_LARGE, ERR_OFFER_MALFORMED, ERR_OFFER_BAD_KEY, ERR_OFFER_KEY_MISMATCH,
 * ERR_OFFER_UNSUPPORTED_KEY, ERR_OFFER_BAD_SIGNATURE, ERR_OFFER_EXPIRED, ERR_OFFER_NOT_YET_VALID.
 */
export class OfferError extends ProtocolError {
  constructor(code: ErrorCode, message: string) {
    super(code, message)
    this.name = 'OfferError'
  }
}
