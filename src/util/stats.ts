import { median as sampleMedian } from 'simple-statistics'

/** The median of the values (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : sampleMedian([...values])
}

/** The median of the values, or undefined for none. */
export function medianOrUndefined(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : median(values)
}
