/**
 * Defaults for the latency module. Every name carries its unit.
 */

/**
 * Histograms store integers; a recorded value is multiplied by this and rounded.
 * With values in milliseconds, 1000 ticks per unit gives 1 microsecond resolution.
 */
export const DEFAULT_TICKS_PER_UNIT = 1000

/** Significant decimal digits kept by a histogram: 3 means bucket width is at most 0.1% of the value. */
export const DEFAULT_SIGNIFICANT_DIGITS = 3

/** Vivaldi: fraction of the error-weighted force applied per sample (cc in Dabek et al. 2004). */
export const DEFAULT_VIVALDI_CC = 0.25

/** Vivaldi: weight of a new sample in the moving error estimate (ce in Dabek et al. 2004). */
export const DEFAULT_VIVALDI_CE = 0.25

/** Vivaldi: error a fresh coordinate starts with (1 = "no idea"); also the cap for the error estimate. */
export const DEFAULT_VIVALDI_INITIAL_ERROR = 1

/** Vivaldi: the height (access latency, ms) never goes below this, so it can still grow multiplicatively. */
export const DEFAULT_VIVALDI_MIN_HEIGHT_MS = 0.01

/** Recorder: raw samples kept per peer and per kind (rtt, ttfb, transfer, connect); older ones are pruned. */
export const DEFAULT_MAX_SAMPLES_PER_KIND = 1000

/** Recorder: raw samples older than this are pruned (ms; 24 hours). */
export const DEFAULT_MAX_SAMPLE_AGE_MS = 24 * 60 * 60 * 1000

/** Recorder: weight of the newest transfer in the throughput moving average (0..1). */
export const DEFAULT_THROUGHPUT_EWMA_ALPHA = 0.3

/** Pinger: how long to wait for one ping before counting it as lost (ms). */
export const DEFAULT_PING_TIMEOUT_MS = 5000
