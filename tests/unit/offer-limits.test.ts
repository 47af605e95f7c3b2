import { describe, expect, it } from 'vitest'
import { BwnodeError } from '../../src/errors/index.ts'
import { Semaphore, TokenBucket } from '../../src/protocols/offer/limits.ts'

describe('TokenBucket', () => {
  it('holds its configured rate over about a second (within 10%)', async () => {
    const rate = 2_000_000 // bytes per second
    const burst = 16 * 1024
    const bucket = new TokenBucket({ rateBytesPerSec: rate, burstBytes: burst })
    const chunk = 64 * 1024 // larger than the burst: the bucket must still pace it
    const start = performance.now()
    let sent = 0
    while (performance.now() - start < 1000) {
      await bucket.take(chunk)
      sent += chunk
    }
    const seconds = (performance.now() - start) / 1000
    const measured = (sent - burst) / seconds // the initial burst is free; everything after it is paced
    console.log(
      `token bucket: configured ${rate} B/s, measured ${Math.round(measured)} B/s (${((measured / rate) * 100).toFixed(1)}%)`,
    )
    expect(measured / rate).toBeGreaterThan(0.9)
    expect(measured / rate).toBeLessThan(1.1)
  })

  it('lets a burst through at once, then makes callers wait in order on virtual time', async () => {
    let now = 0
    const waits: number[] = []
    const bucket = new TokenBucket({
      rateBytesPerSec: 1000,
      burstBytes: 500,
      clock: () => now,
      sleep: async (ms) => {
        waits.push(ms)
      },
    })
    await bucket.take(500)
    expect(waits).toEqual([])
    await bucket.take(250) // 250 bytes of debt at 1000 B/s
    await bucket.take(250) // queued behind the first: 500 bytes of debt
    expect(waits).toEqual([250, 500])
    now += 500
    expect(bucket.available).toBeCloseTo(0)
    now += 10_000
    expect(bucket.available).toBe(500) // refill is capped at the burst
  })

  it('returns the reservation when the wait is aborted', async () => {
    const bucket = new TokenBucket({ rateBytesPerSec: 1000, burstBytes: 100, clock: () => 0 })
    const controller = new AbortController()
    const pending = bucket.take(1000, controller.signal)
    expect(bucket.available).toBe(-900)
    controller.abort(new Error('gone'))
    await expect(pending).rejects.toThrow('gone')
    expect(bucket.available).toBe(100)
    expect(() => new TokenBucket({ rateBytesPerSec: 0, burstBytes: 1 })).toThrow(BwnodeError)
    await expect(bucket.take(-1)).rejects.toThrow(BwnodeError)
  })
})

describe('Semaphore', () => {
  it('never lets more than max run at once, and serves waiters first come first served', async () => {
    const sem = new Semaphore(3)
    let running = 0
    let peak = 0
    const order: number[] = []
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        sem.run(async () => {
          order.push(i)
          running++
          peak = Math.max(peak, running)
          await new Promise((resolve) => setTimeout(resolve, 5))
          running--
        }),
      ),
    )
    expect(peak).toBe(3)
    expect(order).toEqual([...Array(12).keys()])
    expect(sem.inUse).toBe(0)
  })

  it('drops an aborted waiter from the queue', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const controller = new AbortController()
    const aborted = sem.acquire(controller.signal)
    const next = sem.acquire()
    expect(sem.waiting).toBe(2)
    controller.abort(new Error('cancelled'))
    await expect(aborted).rejects.toThrow('cancelled')
    expect(sem.waiting).toBe(1)
    sem.release()
    await next // the permit went to the remaining waiter
    expect(sem.inUse).toBe(1)
    expect(sem.tryAcquire()).toBe(false)
    sem.release()
    expect(() => sem.release()).toThrow(BwnodeError)
    expect(() => new Semaphore(0)).toThrow(BwnodeError)
  })
})
