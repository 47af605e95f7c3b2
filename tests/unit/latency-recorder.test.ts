import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { BwnodeError } from '../../src/errors/index.ts'
import { LatencyRecorder, type PingableNode } from '../../src/latency/recorder.ts'
import { estimateRtt, originCoordinate } from '../../src/latency/vivaldi.ts'

let dir: string
let db: Database
let now: number
const clock = () => now

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bwnode-latency-'))
  db = await openDatabase(dir)
  now = 1_700_000_000_000
})

afterEach(async () => {
  await db.close()
  await rm(dir, { recursive: true, force: true })
})

async function countSamples(database: Database): Promise<number> {
  let n = 0
  for await (const _ of database.sublevel('latency').sublevel('samples').keys()) n++
  return n
}

describe('LatencyRecorder', () => {
  it('summarises RTT, TTFB, connect setup and throughput per peer', async () => {
    const rec = new LatencyRecorder({ db, clock })
    for (let i = 1; i <= 100; i++) {
      now += 10
      await rec.recordRtt('peerA', i)
    }
    await rec.recordTtfb('peerA', 25)
    await rec.recordConnectSetup('peerA', 7)
    await rec.recordTransfer('peerA', 10e6, 1) // 10 MB/s
    await rec.recordTransfer('peerA', 20e6, 1) // 20 MB/s
    const s = await rec.summary('peerA')
    expect(s).toBeDefined()
    expect(s!.rttMs.samples).toBe(100)
    expect(s!.rttMs.p50).toBeCloseTo(50, 1)
    expect(s!.rttMs.p90).toBeCloseTo(90, 1)
    expect(s!.rttMs.p99).toBeCloseTo(99, 1)
    expect(s!.ttfbMs).toMatchObject({ samples: 1 })
    expect(s!.ttfbMs.p50).toBeCloseTo(25, 1)
    expect(s!.connectSetupMs.p50).toBeCloseTo(7, 1)
    expect(s!.throughputMBps).toBeCloseTo(0.3 * 20 + 0.7 * 10, 6)
    expect(s!.transfers).toBe(2)
    expect(s!.lastSeen).toBe(now)
    expect(await rec.summary('nobody')).toBeUndefined()
    await expect(async () => rec.recordRtt('peerA', -1)).rejects.toThrow(BwnodeError)
  })

  it('keeps everything across close and reopen', async () => {
    const rec = new LatencyRecorder({ db, clock })
    for (let i = 1; i <= 20; i++) await rec.recordRtt('peerA', i * 2)
    await rec.recordRtt('peerB', 3, { x: 50, y: 0, height: 1, error: 0.1 })
    await rec.recordTransfer('peerB', 5e6, 2)
    const before = await rec.peers()
    const coordinate = rec.coordinate
    expect(coordinate).not.toEqual(originCoordinate())
    await rec.close()
    await db.close()

    db = await openDatabase(dir)
    const reopened = new LatencyRecorder({ db, clock })
    await reopened.ready()
    expect(await reopened.peers()).toEqual(before)
    expect(reopened.coordinate).toEqual(coordinate)
    expect(before.map((p) => p.peerId).sort()).toEqual(['peerA', 'peerB'])
    // The reopened recorder keeps adding to the same window.
    await reopened.recordRtt('peerA', 1000)
    expect((await reopened.summary('peerA'))!.rttMs.samples).toBe(21)
  })

  it('caps raw samples per peer and kind, dropping the oldest from the window', async () => {
    const rec = new LatencyRecorder({ db, clock, retention: { maxSamplesPerKind: 10 } })
    for (let i = 1; i <= 25; i++) {
      now += 1
      await rec.recordRtt('peerA', i >= 16 ? 100 : 1) // the first 15 are fast, the last 10 slow
    }
    const s = (await rec.summary('peerA'))!
    expect(s.rttMs.samples).toBe(10)
    expect(s.rttMs.p50).toBeCloseTo(100, 0) // only the retained (slow) samples count
    expect(await countSamples(db)).toBe(10)
  })

  it('reads back the newest raw samples of one kind and peer, oldest first', async () => {
    const rec = new LatencyRecorder({ db, clock })
    for (let i = 1; i <= 5; i++) {
      now += 1000
      await rec.recordRtt('peerA', i)
      await rec.recordRtt('peerB', 100 + i)
      await rec.recordTtfb('peerA', 50)
    }
    expect(await rec.recent('peerA', 'rtt', 3)).toEqual([
      { time: now - 2000, value: 3 },
      { time: now - 1000, value: 4 },
      { time: now, value: 5 },
    ])
    expect((await rec.recent('peerB', 'rtt', 10)).map((s) => s.value)).toEqual([101, 102, 103, 104, 105])
    expect(await rec.recent('peerC', 'rtt', 10)).toEqual([])
  })

  it('prunes samples past the age limit, on sampling and on prune()', async () => {
    const rec = new LatencyRecorder({ db, clock, retention: { maxAgeMs: 60_000 } })
    for (let i = 0; i < 5; i++) await rec.recordRtt('peerA', 5)
    for (let i = 0; i < 3; i++) await rec.recordTtfb('peerB', 5)
    now += 61_000
    await rec.recordRtt('peerA', 9) // prunes peerA's old RTTs
    expect((await rec.summary('peerA'))!.rttMs.samples).toBe(1)
    expect((await rec.summary('peerB'))!.ttfbMs.samples).toBe(3) // untouched until prune()
    await rec.prune()
    const b = (await rec.summary('peerB'))!
    expect(b.ttfbMs.samples).toBe(0)
    expect(b.lastSeen).not.toBeNull()
    expect(await countSamples(db)).toBe(1)
  })

  it('moves the local Vivaldi coordinate toward what remote coordinates and RTTs imply', async () => {
    const rec = new LatencyRecorder({ db, clock })
    const remotes = [
      { x: 0, y: 0, height: 5, error: 0.05 },
      { x: 60, y: 0, height: 5, error: 0.05 },
      { x: 0, y: 60, height: 5, error: 0.05 },
    ]
    const here = { x: 20, y: 20, height: 5 }
    const rtt = (r: (typeof remotes)[number]) =>
      Math.hypot(r.x - here.x, r.y - here.y) + r.height + here.height
    for (let round = 0; round < 100; round++) {
      for (const r of remotes) await rec.recordRtt(`peer${r.x}-${r.y}`, rtt(r), r)
    }
    for (const r of remotes) {
      expect(Math.abs(estimateRtt(rec.coordinate, r) - rtt(r)) / rtt(r)).toBeLessThan(0.1)
    }
  })

  it('reports consecutive ping failures per peer, forgets them on an answer, and counts a peer without the ping protocol as alive', async () => {
    const [silent, flaky, foreign] = await Promise.all(
      [0, 1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    let flakyCalls = 0
    const node: PingableNode = {
      getConnections: () => [silent!, flaky!, foreign!].map((remotePeer) => ({ remotePeer })),
      services: {
        ping: {
          ping: async (peer) => {
            if (peer.equals(silent)) throw new Error('timed out')
            if (peer.equals(foreign))
              throw Object.assign(new Error('no ping'), { name: 'UnsupportedProtocolError' })
            // fails every other round
            if (flakyCalls++ % 2 === 0) throw new Error('timed out')
            return 3
          },
        },
      },
    }
    const failures: Array<[string, number]> = []
    const rec = new LatencyRecorder({ db })
    const pinger = rec.startPinging(node, 10, {
      onPingFailure: (peer, consecutive) => failures.push([peer.toString(), consecutive]),
    })
    await new Promise((resolve) => setTimeout(resolve, 120))
    await pinger.stop()
    const of = (peer: PeerId) => failures.filter(([id]) => id === peer.toString()).map(([, n]) => n)
    const silentCounts = of(silent!)
    expect(silentCounts.length).toBeGreaterThanOrEqual(3)
    expect(silentCounts).toEqual(silentCounts.map((_, i) => i + 1))
    expect(of(flaky!).length).toBeGreaterThanOrEqual(1)
    expect(of(flaky!).every((n) => n === 1)).toBe(true)
    expect(of(foreign!)).toEqual([])
  })

  it('pings connected peers periodically and stops without leaving work behind', async () => {
    const peers: PeerId[] = []
    for (let i = 0; i < 2; i++) peers.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
    let pings = 0
    let inFlight = 0
    const node: PingableNode = {
      getConnections: () => [...peers, peers[0]!].map((remotePeer) => ({ remotePeer })),
      services: {
        ping: {
          ping: async (peer, options) => {
            pings++
            inFlight++
            try {
              await new Promise((resolve) => setTimeout(resolve, 2))
              options?.signal?.throwIfAborted()
              return peer.equals(peers[0]) ? 4 : 8
            } finally {
              inFlight--
            }
          },
        },
      },
    }
    const rec = new LatencyRecorder({ db })
    const pinger = rec.startPinging(node, 20)
    await new Promise((resolve) => setTimeout(resolve, 150))
    await pinger.stop()
    const afterStop = pings
    expect(inFlight).toBe(0)
    expect(afterStop).toBeGreaterThanOrEqual(4) // several rounds, two distinct peers per round
    expect(afterStop % 2).toBe(0) // a duplicate connection is pinged once per round
    const a = (await rec.summary(peers[0]!))!
    const b = (await rec.summary(peers[1]!))!
    expect(a.rttMs.p50).toBeCloseTo(4, 1)
    expect(b.rttMs.p50).toBeCloseTo(8, 1)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(pings).toBe(afterStop)
  })
})
