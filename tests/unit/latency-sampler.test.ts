import { describe, expect, it } from 'vitest'
import { TransferSampler } from '../../src/latency/sampler.ts'

describe('TransferSampler', () => {
  it('reports at most once per interval: the lowest TTFB and bytes over wall-clock time', () => {
    let now = 0
    const sampler = new TransferSampler({ intervalMs: 500, now: () => now })
    // The first chunk opens the window and reports only its time to first byte.
    expect(sampler.add(1000, 40)).toEqual({ ttfbMs: 40, bytes: 0, seconds: 0 })
    const samples = []
    for (let i = 1; i <= 20; i++) {
      now = i * 50
      const sample = sampler.add(1_000_000, 40 + (i % 3) * 30)
      if (sample !== undefined) samples.push(sample)
    }
    // 20 chunks over 1 s: two reports, not twenty.
    expect(samples).toHaveLength(2)
    expect(samples[0]).toEqual({ ttfbMs: 40, bytes: 10_000_000, seconds: 0.5 })
    // 10 MB in 0.5 s is 20 MB/s: what the link delivered, not 1 MB / one chunk's latency.
    expect(samples[0]!.bytes / samples[0]!.seconds).toBe(20_000_000)
  })

  it('flushes the remainder when the session ends, and nothing for an empty one', () => {
    let now = 0
    const sampler = new TransferSampler({ intervalMs: 500, now: () => now })
    expect(new TransferSampler().finish()).toBeUndefined()
    sampler.add(500, 10)
    now = 100
    sampler.add(500, 12)
    now = 200
    expect(sampler.finish()).toEqual({ ttfbMs: 10, bytes: 500, seconds: 0.2 })
    expect(sampler.finish()).toBeUndefined()
  })
})
