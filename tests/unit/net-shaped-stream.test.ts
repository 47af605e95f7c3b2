import type { MessageStream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { ShapedMessageStream } from '../../src/net/index.ts'

function collect(stream: MessageStream): { bytes: () => Uint8Array; arrivals: number[] } {
  const parts: Uint8Array[] = []
  const arrivals: number[] = []
  stream.addEventListener('message', (evt) => {
    parts.push(evt.data.subarray())
    arrivals.push(performance.now())
  })
  return {
    arrivals,
    bytes: () => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
      let offset = 0
      for (const p of parts) {
        out.set(p, offset)
        offset += p.byteLength
      }
      return out
    },
  }
}

const pattern = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff)
const waitFor = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2))
}
const activeTimers = (): number =>
  process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length

describe('ShapedMessageStream', () => {
  it('delays a small message by the configured one-way delay', async () => {
    const [local, remote] = multiaddrConnectionPair()
    const shaped = new ShapedMessageStream(local, { delayMs: 30, rateMbps: Number.POSITIVE_INFINITY })
    const sink = collect(remote)
    const start = performance.now()
    shaped.send(pattern(100))
    await waitFor(() => sink.arrivals.length > 0)
    expect((sink.arrivals[0] as number) - start).toBeGreaterThanOrEqual(29.5)
    expect(sink.bytes()).toEqual(pattern(100))
    await shaped.close()
  })

  it('bounds its queue near bandwidth x delay, reports backpressure, drains, and keeps order', async () => {
    const [local, remote] = multiaddrConnectionPair()
    // 8 Mbit/s = 1000 bytes/ms, 20 ms: BDP 20 kB + 5 ms + 64 KiB buffer
    const shaped = new ShapedMessageStream(local, { delayMs: 20, rateMbps: 8 })
    expect(shaped.queueLimitBytes).toBe(25_000 + 65_536)
    const sink = collect(remote)
    const payload = pattern(300_000)
    const chunk = 16 * 1024
    let accepted = 0
    let sawBackpressure = false
    const start = performance.now()
    while (accepted < payload.byteLength) {
      const ok = shaped.send(payload.subarray(accepted, accepted + chunk))
      accepted += Math.min(chunk, payload.byteLength - accepted)
      expect(shaped.queuedLength).toBeLessThanOrEqual(shaped.queueLimitBytes + chunk)
      if (!ok) {
        sawBackpressure = true
        expect(shaped.writableNeedsDrain).toBe(true)
        await shaped.onDrain()
      }
    }
    expect(sawBackpressure).toBe(true)
    await waitFor(() => sink.bytes().byteLength === payload.byteLength)
    const elapsed = performance.now() - start
    expect(sink.bytes()).toEqual(payload)
    // 300 kB at 1000 B/ms + 20 ms in flight = 320 ms; pacing may be late, never early
    expect(elapsed).toBeGreaterThanOrEqual(319)
    expect(elapsed / 320).toBeLessThan(2)
    await shaped.close()
  })

  it('close() delivers bytes still in flight before closing the connection', async () => {
    const [local, remote] = multiaddrConnectionPair()
    const shaped = new ShapedMessageStream(local, { delayMs: 25, rateMbps: 100 })
    const sink = collect(remote)
    shaped.send(pattern(50_000))
    await shaped.close()
    expect(shaped.status).toBe('closed')
    await waitFor(() => sink.bytes().byteLength === 50_000)
    expect(sink.bytes()).toEqual(pattern(50_000))
  })

  it('abort() drops the queue, aborts the connection and leaves no timer behind', async () => {
    const [local, remote] = multiaddrConnectionPair()
    const before = activeTimers()
    const shaped = new ShapedMessageStream(local, { delayMs: 200, rateMbps: 10 })
    const sink = collect(remote)
    shaped.send(pattern(10_000))
    expect(activeTimers()).toBeGreaterThan(before)
    shaped.abort(new Error('test abort'))
    expect(shaped.status).toBe('aborted')
    expect(local.status).toBe('aborted')
    expect(shaped.queuedLength).toBe(0)
    expect(activeTimers()).toBe(before)
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(sink.arrivals).toHaveLength(0)
  })

  it('a remote close of the connection closes the shaped stream and clears its timer', async () => {
    const [local, remote] = multiaddrConnectionPair()
    const before = activeTimers()
    const shaped = new ShapedMessageStream(local, { delayMs: 500, rateMbps: 10 })
    const closed = new Promise((resolve) => shaped.addEventListener('close', resolve, { once: true }))
    shaped.send(pattern(1_000))
    remote.abort(new Error('peer went away'))
    await closed
    expect(shaped.status).not.toBe('open')
    expect(shaped.queuedLength).toBe(0)
    expect(activeTimers()).toBe(before)
  })
})
