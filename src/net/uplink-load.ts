/**
 * What a lent home uplink carries besides bwnode: the household's own traffic, and the queue in
 * front of the uplink that its router keeps. A peer that lends its uplink loads it, and a loaded
 * residential uplink adds +50-100 ms (bufferbloat, M-Lab; CLAIM.md) to everything that waits in
 * that queue.
 *
 * The model is a fluid one at the bottleneck (the sender's uplink, see SharedUplink):
 * - household traffic takes `crossTrafficShare` of the uplink's rate while it runs;
 * - a greedy household upload (a backup, a photo sync: a TCP flow that grows until the buffer
 *   overflows) keeps the bottleneck's buffer full, so every byte bwnode sends first waits for a
 *   standing queue of `bufferMs`; paced household traffic (a video call) takes its share but
 *   builds no standing queue;
 * - bwnode's own bytes may queue up to `bufferMs` of the uplink's rate above the bandwidth-delay
 *   product before the sender feels backpressure (the same buffer, filled by bwnode itself).
 * A drop-tail FIFO sized by the ISP's modem is "bloated" (tens to hundreds of ms); a router with
 * active queue management (CoDel, its 5 ms target) keeps the standing queue short ("managed").
 *
 * Mutable, like TimeDilation: one experiment moves its peers from condition to condition between
 * cells without restarting them; the shaper reads it on every send.
 */

export interface UplinkLoadSettings {
  /** Share of the uplink's rate the household's own traffic takes, 0 (none) to < 1. */
  crossTrafficShare: number
  /** A greedy household upload keeps the buffer full (standing queue); paced traffic does not. */
  crossTrafficGreedy: boolean
  /** The bottleneck buffer above the bandwidth-delay product, in ms at the uplink's rate. */
  bufferMs: number
}

/** CoDel's target sojourn time (RFC 8289): what a managed queue holds under load. */
export const MANAGED_QUEUE_MS = 5
/** The middle of the +50-100 ms that M-Lab measures on loaded home uplinks (CLAIM.md). */
export const BLOATED_QUEUE_MS = 75
/**
 * Household traffic's share while it lends: an assumption of this model, not a measurement
 * (make it a knob: `link.crossTraffic.share`).
 */
export const DEFAULT_CROSS_TRAFFIC_SHARE = 0.25

/** An idle uplink with a managed queue: what the emulator does without a load model. */
export const UNLOADED: Readonly<UplinkLoadSettings> = Object.freeze({
  crossTrafficShare: 0,
  crossTrafficGreedy: false,
  bufferMs: MANAGED_QUEUE_MS,
})

export function checkUplinkLoad(settings: UplinkLoadSettings): UplinkLoadSettings {
  const { crossTrafficShare, bufferMs } = settings
  if (!(crossTrafficShare >= 0 && crossTrafficShare < 1))
    throw new RangeError(`crossTrafficShare must be in [0, 1), got ${crossTrafficShare}`)
  if (!(bufferMs >= 0 && Number.isFinite(bufferMs)))
    throw new RangeError(`bufferMs must be a finite number >= 0, got ${bufferMs}`)
  return { crossTrafficShare, crossTrafficGreedy: settings.crossTrafficGreedy, bufferMs }
}

export class UplinkLoad {
  private currentSettings: UplinkLoadSettings

  constructor(settings: UplinkLoadSettings = UNLOADED) {
    this.currentSettings = checkUplinkLoad(settings)
  }

  get settings(): Readonly<UplinkLoadSettings> {
    return this.currentSettings
  }

  set settings(value: UplinkLoadSettings) {
    this.currentSettings = checkUplinkLoad(value)
  }

  /** Share of the uplink's rate left to bwnode. */
  get availableShare(): number {
    return 1 - this.currentSettings.crossTrafficShare
  }

  /** Undilated ms every byte waits behind household traffic before its own serialisation. */
  get standingQueueMs(): number {
    const s = this.currentSettings
    return s.crossTrafficGreedy && s.crossTrafficShare > 0 ? s.bufferMs : 0
  }

  get bufferMs(): number {
    return this.currentSettings.bufferMs
  }
}
