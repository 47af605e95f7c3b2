import { describe, expect, it } from 'vitest'
import { deferWindowUpdates } from '../../src/protocols/chunk/muxer-frames.ts'

/** The fields of a @chainsafe/libp2p-yamux stream the deferral reads, and a count of real updates. */
function yamuxLike(init: { recvWindow: number; capacity: number; rttMs: number; lastUpdateAgoMs: number }) {
  const stream = {
    state: 3,
    recvWindow: init.recvWindow,
    recvWindowCapacity: init.capacity,
    maxStreamWindowSize: 32 * 2 ** 20,
    epochStart: Date.now() - init.lastUpdateAgoMs,
    getRTT: () => init.rttMs,
    sent: 0,
    sendWindowUpdate(): void {
      this.sent++
    },
  }
  deferWindowUpdates(stream)
  return stream
}

describe('deferWindowUpdates', () => {
  it('holds an update while half the window is still granted and the window is not growing', () => {
    const stream = yamuxLike({
      recvWindow: 4 * 2 ** 20,
      capacity: 3 * 2 ** 20,
      rttMs: 1,
      lastUpdateAgoMs: 500,
    })
    stream.sendWindowUpdate()
    expect(stream.sent).toBe(0)
    stream.recvWindowCapacity = 2 ** 20 // under half: the sender would soon wait
    stream.sendWindowUpdate()
    expect(stream.sent).toBe(1)
  })

  it('lets yamux grow the window as it would: an update within four round trips of the last goes out', () => {
    const stream = yamuxLike({ recvWindow: 2 ** 20, capacity: 900 * 1024, rttMs: 150, lastUpdateAgoMs: 100 })
    stream.sendWindowUpdate()
    expect(stream.sent).toBe(1)
  })

  it('defers at the largest window even when updates come fast, and never before the stream is established', () => {
    const atMax = yamuxLike({
      recvWindow: 32 * 2 ** 20,
      capacity: 30 * 2 ** 20,
      rttMs: 150,
      lastUpdateAgoMs: 10,
    })
    atMax.sendWindowUpdate()
    expect(atMax.sent).toBe(0)
    const opening = yamuxLike({ recvWindow: 2 ** 20, capacity: 2 ** 20, rttMs: -1, lastUpdateAgoMs: 0 })
    opening.state = 2 // SYN received: the first update carries the ACK
    opening.sendWindowUpdate()
    expect(opening.sent).toBe(1)
  })

  it('leaves a stream that is not yamux as it is', () => {
    const other = { sendWindowUpdate: () => 'own' }
    deferWindowUpdates(other)
    expect(other.sendWindowUpdate()).toBe('own')
  })
})
