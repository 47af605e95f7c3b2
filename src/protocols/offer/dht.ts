import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'
import { OFFER_NAMESPACE } from './constants.ts'
import { decodeOffer, validateOfferRecord } from './record.ts'

/**
 * kad-dht hooks for the `/bwoffer/` namespace: pass `offerValidators` and
 * `offerSelectors` (or spread them into your own maps) to `kadDHT({ validators,
 * selectors })`. kad-dht runs the validator on every record a peer asks it to
 * store and on every record a query returns.
 */

export interface OfferValidatorOptions {
  /** Wall clock (ms since epoch) for expiry checks. */
  clock?: () => number
}

/** A validator that throws OfferError for anything but a valid, current offer signed by the key's peer. */
export function createOfferValidator(options: OfferValidatorOptions = {}): ValidateFn {
  const clock = options.clock ?? Date.now
  return async (key, value) => {
    await validateOfferRecord(key, value, clock())
  }
}

export const offerValidator: ValidateFn = createOfferValidator()

/**
 * Picks the newest offer (highest issuedAt, then latest expiresAt). Records
 * that do not decode never win; ties keep the earlier index so the choice is stable.
 */
export const offerSelector: SelectFn = (_key, records) => {
  let best = 0
  let bestRank: [number, number] = [-1, -1]
  records.forEach((record, i) => {
    let rank: [number, number]
    try {
      const { offer } = decodeOffer(record)
      rank = [offer.issuedAt, offer.expiresAt]
    } catch {
      return
    }
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) {
      best = i
      bestRank = rank
    }
  })
  return best
}

export const offerValidators: Record<string, ValidateFn> = { [OFFER_NAMESPACE]: offerValidator }
export const offerSelectors: Record<string, SelectFn> = { [OFFER_NAMESPACE]: offerSelector }
