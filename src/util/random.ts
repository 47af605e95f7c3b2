/** A source of uniform numbers in [0, 1), like Math.random. Injected wherever tests need determinism. */
export type RandomSource = () => number

/**
 * A small seeded generator (mulberry32): deterministic, fast, good enough for jitter, tie-breaking,
 * test schedules and bootstrap resampling (the same seed gives the same intervals, so a report
 * rebuilt from results.json shows the same ones). Not for anything cryptographic.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
