import { performance } from 'node:perf_hooks'
import { CPU_SAMPLE_MS, SATURATED_ELU } from './constants.ts'

/** Says whether this node's CPU is the bottleneck right now. */
export interface CpuGauge {
  saturated(): boolean
}

/**
 * Event-loop utilisation (the share of time the loop was busy) over the last
 * CPU_SAMPLE_MS or more. Above SATURATED_ELU, timers and socket reads run late,
 * so a ping measured now holds our own queueing, not just the network.
 */
export class EventLoopGauge implements CpuGauge {
  private last = performance.eventLoopUtilization()
  private lastAt = performance.now()
  private busy = false

  saturated(): boolean {
    const now = performance.now()
    if (now - this.lastAt >= CPU_SAMPLE_MS) {
      const current = performance.eventLoopUtilization()
      this.busy = performance.eventLoopUtilization(current, this.last).utilization > SATURATED_ELU
      this.last = current
      this.lastAt = now
    }
    return this.busy
  }
}
