import type { MessageStream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'
import { ShapedMessageStream, TimeDilation } from '../../src/net/index.ts'

function arrivalTimes(stream: MessageStream): { total: () => number; last: () => number } {
  let total = 0
  let last = 0
  stream.addEventListener('message', (evt) => {
    total += evt.data.byteLength
    last = performance.now()
  })
  return { total: () => total, last: () => last }
}

const waitFor = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2))
}

/** Sends `bytes` through a shaped stream and returns when the last byte arrived, ms after the start. */
async function transfer(shaped: ShapedMessageStream, remote: MessageStream, bytes: number): Promise<number> {
  const sink = arrivalTimes(remote)
  const start = performance.now()
  const piece = 16 * 1024
  for (let sent = 0; sent < bytes; sent += piece) {
    if (!shaped.send(new Uint8Array(Math.min(piece, bytes - sent)))) await shaped.onDrain()
  }
  await waitFor(() => sink.total() === bytes)
  return sink.last() - start
}

describe('time dilation in the link emulator', () => {
  it('divides the rate and multiplies the delay by K, keeping the queue bound in bytes', async () => {
    const dilation = new TimeDilation(1)
    const [local, remote] = multiaddrConnectionPair()
    // A sender resuming after a late 'drain' is given back the emulator's lateness (its timeline
    // starts where an on-time 'drain' would have put it), so a transfer may end that much sooner
    // than its own start suggests: count it.
    let reclaimedMs = 0
    const probe = { onRelease: () => {}, onCatchUp: (ms: number) => (reclaimedMs += ms) }
    // 8 Mbit/s = 1000 bytes/ms, 10 ms one way
    const shaped = new ShapedMessageStream(local, { delayMs: 10, rateMbps: 8, dilation, probe })
    const limit = shaped.queueLimitBytes
    const atK1 = await transfer(shaped, remote, 100_000)
    const reclaimedAtK1 = reclaimedMs
    reclaimedMs = 0
    dilation.factor = 3
    expect(shaped.delayMs).toBe(30)
    expect(shaped.queueLimitBytes).toBe(limit)
    const atK3 = await transfer(shaped, remote, 100_000)
    // undilated: 100 ms of serialisation + 10 ms of delay; dilated x3: 330 ms. Never early on the
    // emulated timeline (the release tolerance is 0.02 ms).
    expect(atK1 + reclaimedAtK1).toBeGreaterThanOrEqual(109.9)
    expect(atK3 + reclaimedMs).toBeGreaterThanOrEqual(329.9)
    // converted back to undilated time the two agree (timers only ever add lateness)
    expect(Math.abs(atK3 / 3 - atK1) / atK1).toBeLessThan(0.15)
    await shaped.close()
  })

  it('refuses a factor below 1', () => {
    expect(() => new TimeDilation(0.5)).toThrow(RangeError)
    const d = new TimeDilation(2)
    expect(() => {
      d.factor = Number.NaN
    }).toThrow(RangeError)
    expect(d.factor).toBe(2)
  })

  it('reports release lateness and catch-up to its probe', async () => {
    const late: number[] = []
    const probe = { onRelease: (ms: number) => late.push(ms), onCatchUp: () => {} }
    const [local, remote] = multiaddrConnectionPair()
    const shaped = new ShapedMessageStream(local, { delayMs: 5, rateMbps: 80, probe })
    await transfer(shaped, remote, 200_000)
    expect(late.length).toBeGreaterThan(0)
    expect(late.every((ms) => ms >= 0)).toBe(true)
    await shaped.close()
  })
})
