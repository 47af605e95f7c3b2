import type { MessageStream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { TimeDilation } from '../../src/net/dilation.ts'
import { ShapedMessageStream, SharedUplink } from '../../src/net/shaped-stream.ts'
import { BLOATED_QUEUE_MS, MANAGED_QUEUE_MS, UplinkLoad } from '../../src/net/uplink-load.ts'
import { uplinkLoadOf } from '../../src/node/link-emulation.ts'

/** 8 Mbit/s = 1000 bytes per ms. */
const RATE_MBPS = 8

function firstArrival(stream: MessageStream): Promise<number> {
  return new Promise((resolve) => {
    stream.addEventListener('message', () => resolve(performance.now()), { once: true })
  })
}

describe('UplinkLoad', () => {
  it('leaves the uplink as it was when unloaded', () => {
    const uplink = new SharedUplink(RATE_MBPS, undefined, new UplinkLoad())
    expect(uplink.reserve(1000, 0)).toBeCloseTo(1, 9)
    expect(uplink.reserve(1000, 0)).toBeCloseTo(2, 9)
  })

  it('gives bwnode what household traffic leaves of the rate', () => {
    const load = new UplinkLoad({ crossTrafficShare: 0.25, crossTrafficGreedy: false, bufferMs: 5 })
    const uplink = new SharedUplink(RATE_MBPS, undefined, load)
    // 3000 bytes at 750 bytes/ms, and no standing queue: paced household traffic builds none
    expect(uplink.reserve(3000, 0)).toBeCloseTo(4, 9)
  })

  it('puts every byte behind the standing queue of a greedy household upload', () => {
    const load = new UplinkLoad({ crossTrafficShare: 0.5, crossTrafficGreedy: true, bufferMs: 75 })
    const uplink = new SharedUplink(RATE_MBPS, undefined, load)
    expect(uplink.reserve(1000, 10)).toBeCloseTo(10 + 75 + 2, 9)
    // the next piece queues behind bwnode's own first one, not behind a second standing queue
    expect(uplink.reserve(1000, 10)).toBeCloseTo(10 + 75 + 4, 9)
    // a managed queue holds the same traffic to its short target
    load.settings = { crossTrafficShare: 0.5, crossTrafficGreedy: true, bufferMs: MANAGED_QUEUE_MS }
    const managed = new SharedUplink(RATE_MBPS, undefined, load)
    expect(managed.reserve(1000, 10)).toBeCloseTo(10 + 5 + 2, 9)
  })

  it('dilates the standing queue and the rate with the link', () => {
    const load = new UplinkLoad({ crossTrafficShare: 0.5, crossTrafficGreedy: true, bufferMs: 75 })
    const uplink = new SharedUplink(RATE_MBPS, new TimeDilation(4), load)
    expect(uplink.reserve(1000, 0)).toBeCloseTo(4 * (75 + 2), 9)
  })

  it('lets the sender queue the bloated buffer before it feels backpressure', () => {
    const load = new UplinkLoad({
      crossTrafficShare: 0,
      crossTrafficGreedy: false,
      bufferMs: MANAGED_QUEUE_MS,
    })
    const uplink = new SharedUplink(RATE_MBPS, undefined, load)
    const [local] = multiaddrConnectionPair()
    const shaped = new ShapedMessageStream(local, { delayMs: 20, rateMbps: RATE_MBPS, uplink })
    const managedLimit = shaped.queueLimitBytes
    load.settings = { crossTrafficShare: 0, crossTrafficGreedy: false, bufferMs: BLOATED_QUEUE_MS }
    // 70 ms more of buffer at 1000 bytes per ms
    expect(shaped.queueLimitBytes - managedLimit).toBe((BLOATED_QUEUE_MS - MANAGED_QUEUE_MS) * 1000)
  })

  it('delays a small message on a loaded uplink by the standing queue, on real timers', async () => {
    const arrivalAfter = async (load: UplinkLoad): Promise<number> => {
      const [local, remote] = multiaddrConnectionPair()
      const uplink = new SharedUplink(RATE_MBPS, undefined, load)
      const shaped = new ShapedMessageStream(local, { delayMs: 20, rateMbps: RATE_MBPS, uplink })
      const arrived = firstArrival(remote)
      const start = performance.now()
      shaped.send(new Uint8Array(100))
      const at = await arrived
      await shaped.close()
      return at - start
    }
    // A busy machine only adds delay to a timer, so each figure is the lowest of a few tries.
    const lowestOf = async (tries: number, load: () => UplinkLoad): Promise<number> => {
      let lowest = Number.POSITIVE_INFINITY
      for (let i = 0; i < tries; i++) lowest = Math.min(lowest, await arrivalAfter(load()))
      return lowest
    }
    const idle = await lowestOf(5, () => new UplinkLoad())
    const bloated = await lowestOf(
      3,
      () => new UplinkLoad({ crossTrafficShare: 0.25, crossTrafficGreedy: true, bufferMs: 60 }),
    )
    expect(idle).toBeGreaterThanOrEqual(19.5)
    // emulated delays are lower bounds: the standing queue comes on top of the 20 ms delay
    expect(bloated).toBeGreaterThanOrEqual(79.5)
    expect(bloated - idle).toBeGreaterThan(50)
  })

  it('refuses a share or buffer outside the model', () => {
    expect(() => new UplinkLoad({ crossTrafficShare: 1, crossTrafficGreedy: true, bufferMs: 5 })).toThrow(
      /crossTrafficShare/,
    )
    expect(() => new UplinkLoad({ crossTrafficShare: 0, crossTrafficGreedy: true, bufferMs: -1 })).toThrow(
      /bufferMs/,
    )
  })

  it('comes from a node config: link.queueMs and link.crossTraffic', () => {
    const config = parseConfig(
      {
        link: { accessLatencyMs: 10, uplinkMbps: 25, queueMs: 80, crossTraffic: { share: 0.3 } },
      },
      'test',
    )
    const load = uplinkLoadOf(config.link!)
    expect(load.settings).toEqual({ crossTrafficShare: 0.3, crossTrafficGreedy: true, bufferMs: 80 })
    expect(load.standingQueueMs).toBe(80)
    expect(() => parseConfig({ link: { crossTraffic: { share: 1.5 } } }, 'test')).toThrow(/crossTraffic/)
    expect(uplinkLoadOf(parseConfig({ link: {} }, 'test').link!).standingQueueMs).toBe(0)
  })
})
