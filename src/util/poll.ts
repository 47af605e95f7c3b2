import { setTimeout as sleep } from 'node:timers/promises'
import { errorMessage } from '../errors/index.ts'

export interface WaitOptions {
  timeoutMs?: number
  intervalMs?: number
  /** What is waited for, in words: the timeout's message names it. */
  what?: string
  /** Stops the wait early with the signal's reason. */
  signal?: AbortSignal
  /** The error to throw at the timeout, from its message (default: a plain Error). */
  timeoutError?: (message: string) => Error
}

/**
 * Polls `probe` until it returns a value, or fails (after `timeoutMs`) naming what it waited for
 * and the last error the probe threw, if any.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 200, what = 'condition', signal, timeoutError }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      lastError = errorMessage(err)
    }
    await sleep(intervalMs, undefined, signal === undefined ? {} : { signal })
  }
  const message = `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError})` : ''}`
  throw timeoutError?.(message) ?? new Error(message)
}
