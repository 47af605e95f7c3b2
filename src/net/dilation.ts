/**
 * Time dilation for the link emulator (Gupta et al., "To Infinity and Beyond: Time-Warped Network
 * Emulation", NSDI 2006). With factor K every emulated rate is divided by K and every emulated delay
 * and link-time constant multiplied by K: bandwidth-delay products, windows, queue bounds and pacing
 * pieces keep their size in bytes, while the CPU has K times more real time per emulated byte.
 * Whoever reports a dilated measurement converts it back (times / K, rates x K).
 *
 * The factor is mutable so one experiment can move from cell to cell without restarting nodes;
 * every shaper reads it on each send.
 */
export class TimeDilation {
  private currentFactor = 1

  constructor(factor = 1) {
    this.factor = factor
  }

  get factor(): number {
    return this.currentFactor
  }

  set factor(value: number) {
    if (!Number.isFinite(value) || value < 1)
      throw new RangeError(`dilation factor must be >= 1, got ${value}`)
    this.currentFactor = value
  }
}

/** No dilation: real time is emulated time. */
export const UNDILATED: { readonly factor: number } = Object.freeze({ factor: 1 })

/**
 * What the emulator reports about its own timing, for the experiment's fidelity guard: how late
 * each release was handed to the socket (a busy event loop), and how much link time a sender
 * woken late reclaimed (the bounded catch-up). Both in real (dilated) milliseconds.
 */
export interface EmulatorProbe {
  onRelease(latenessMs: number): void
  onCatchUp(reclaimedMs: number): void
}
