/**
 * Small, well-known PRNGs for deterministic synthetic data. Only 32-bit
 * integer arithmetic (Math.imul, shifts), so every JS engine on every machine
 * produces the same stream.
 */

/** splitmix32: one step of the mixing function; used to expand a seed into PRNG state. */
export function splitmix32(state: number): { value: number; next: number } {
  const next = (state + 0x9e3779b9) | 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  z ^= z >>> 16
  return { value: z >>> 0, next }
}

/** Mixes several 32-bit integers into one seed (order matters). */
export function mixSeed(...parts: number[]): number {
  let state = 0x6a09e667
  for (const part of parts) state = splitmix32(state ^ (part | 0)).value
  return state >>> 0
}

/** xoshiro128** (Blackman and Vigna): fast, 128-bit state, good enough for test data. */
export class Xoshiro128 {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    let state = seed | 0
    const words: number[] = []
    for (let i = 0; i < 4; i++) {
      const step = splitmix32(state)
      words.push(step.value | 0)
      state = step.next
    }
    this.s0 = words[0] ?? 0
    this.s1 = words[1] ?? 0
    this.s2 = words[2] ?? 0
    this.s3 = words[3] ?? 0
    // the all-zero state is the one state xoshiro cannot leave
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** A generator with the given raw state, e.g. to check against published test vectors. */
  static fromState(state: readonly [number, number, number, number]): Xoshiro128 {
    const prng = new Xoshiro128(0)
    prng.s0 = state[0] | 0
    prng.s1 = state[1] | 0
    prng.s2 = state[2] | 0
    prng.s3 = state[3] | 0
    return prng
  }

  /** Next unsigned 32-bit word. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9)
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result >>> 0
  }

  /** Uniform float in [0, 1), exact (a 32-bit word over 2^32). */
  nextFloat(): number {
    return this.next() / 0x1_0000_0000
  }

  /** Fills words with the next words.length outputs; the same stream as calling next() repeatedly. */
  fill(words: Uint32Array): void {
    let s0 = this.s0
    let s1 = this.s1
    let s2 = this.s2
    let s3 = this.s3
    for (let i = 0; i < words.length; i++) {
      const x = Math.imul(s1, 5)
      const r = (x << 7) | (x >>> 25)
      words[i] = Math.imul(r, 9)
      const t = s1 << 9
      s2 ^= s0
      s3 ^= s1
      s1 ^= s2
      s0 ^= s3
      s2 ^= t
      s3 = (s3 << 11) | (s3 >>> 21)
    }
    this.s0 = s0
    this.s1 = s1
    this.s2 = s2
    this.s3 = s3
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
