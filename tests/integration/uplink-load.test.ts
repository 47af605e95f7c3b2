import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startNode } from '../../src/experiment/nodes.ts'
import { consumerLink, residentialLink } from '../../src/experiment/scenarios.ts'
import { connectAndPing, stopAll } from '../../src/lab/swarm.ts'
import { UNLOADED, UplinkLoad } from '../../src/net/uplink-load.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'

/** The smallest of a few pings: other load on the machine only ever adds delay. */
async function minPingMs(from: Bwnode, to: Bwnode, count = 5): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < count; i++) best = Math.min(best, await from.libp2p.services.ping.ping(to.peerId))
  return best
}

/**
 * Two real nodes over TCP on 127.0.0.1 through the link emulator; the residential peer's uplink
 * carries a greedy household upload behind a bloated buffer, then behind a managed one. Its pong
 * goes out on that uplink, so the round trip grows by the standing queue.
 */
describe('latency under load on a lent uplink (real nodes)', () => {
  const nodes: Bwnode[] = []
  let dir = ''
  afterAll(async () => {
    await stopAll(nodes)
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('adds the standing queue of a greedy upload to the round trip, bloated far more than managed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bwnode-uplink-load-'))
    const load = new UplinkLoad()
    const consumer = await startNode({ dataDir: join(dir, 'consumer'), link: consumerLink(), emulator: {} })
    nodes.push(consumer)
    const peer = await startNode({
      dataDir: join(dir, 'peer'),
      link: residentialLink(100, 0, 1),
      emulator: { load },
    })
    nodes.push(peer)
    await connectAndPing(consumer, peer)
    const idle = await minPingMs(consumer, peer)
    load.settings = { crossTrafficShare: 0.25, crossTrafficGreedy: true, bufferMs: 80 }
    const bloated = await minPingMs(consumer, peer)
    load.settings = { crossTrafficShare: 0.25, crossTrafficGreedy: true, bufferMs: 5 }
    const managed = await minPingMs(consumer, peer)
    load.settings = { crossTrafficShare: 0.25, crossTrafficGreedy: false, bufferMs: 80 }
    const paced = await minPingMs(consumer, peer)
    load.settings = UNLOADED
    const idleAgain = await minPingMs(consumer, peer)

    // ~21.5 ms at rest (10 ms access each way, 100 km of fibre); emulated delays are lower bounds
    expect(idle).toBeGreaterThan(20)
    // The round trip at rest: the lower of the two idle minima (load on this machine only adds).
    // libp2p's ping counts whole milliseconds (Date.now), so each side of a difference may be
    // off by up to 1 ms: 80 ms of standing queue shows as at least 78.
    const rest = Math.min(idle, idleAgain)
    expect(bloated - rest).toBeGreaterThanOrEqual(78)
    expect(managed - rest).toBeGreaterThanOrEqual(3)
    expect(managed).toBeLessThan(bloated - 50)
    // household traffic paced below the rate builds no standing queue
    expect(paced).toBeLessThan(bloated - 50)
    expect(idleAgain).toBeLessThan(bloated - 50)
  }, 60_000)
})
