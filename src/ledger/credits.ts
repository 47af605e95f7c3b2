import { BYTES_PER_GIB, MICROCREDITS_PER_CREDIT } from './constants.ts'

const GIB = BigInt(BYTES_PER_GIB)

/**
 * Micro-credits owed for `bytes` at `pricePerGiB` micro-credits per GiB,
 * rounded up: ceil(bytes × pricePerGiB / 2^30). Computed in bigint because the
 * product passes 2^53 for a few TiB at ordinary prices. Vouchers apply it to
 * cumulative bytes, so rounding never accumulates across payments.
 */
export function creditsForBytes(bytes: number, pricePerGiB: number): number {
  assertUint(bytes, 'bytes')
  assertUint(pricePerGiB, 'pricePerGiB')
  const product = BigInt(bytes) * BigInt(pricePerGiB)
  const credits = (product + GIB - 1n) / GIB
  if (credits > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`credits for ${bytes} bytes at ${pricePerGiB} µcr/GiB exceed 2^53`)
  }
  return Number(credits)
}

/** Human form of a micro-credit amount, e.g. 1_500_000 -> '1.5'. */
export function formatCredits(microcredits: number): string {
  const sign = microcredits < 0 ? '-' : ''
  const abs = Math.abs(microcredits)
  const whole = Math.floor(abs / MICROCREDITS_PER_CREDIT)
  const frac = String(abs % MICROCREDITS_PER_CREDIT)
    .padStart(6, '0')
    .replace(/0+$/, '')
  return sign + String(whole) + (frac === '' ? '' : `.${frac}`)
}

export function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function assertUint(value: number, name: string): void {
  if (!isUint(value)) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`)
}
