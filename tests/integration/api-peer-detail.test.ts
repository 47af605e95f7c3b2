import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDashboardRoutes } from '../../src/api/routes/dashboard.ts'
import { registerNodeRoutes } from '../../src/api/routes/node.ts'
import { createApiApp } from '../../src/api/server.ts'
import type { DashboardSnapshot, PeerDetail } from '../../src/contract/api.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { packageVersion } from '../../src/util/version.ts'
import { tempDir } from '../helpers/daemon.ts'
import { randomDataset, type Swarm, settleTransfer, startSwarm } from '../helpers/swarm.ts'

/**
 * What the dashboard's peer view, summary and icon read, over two in-process nodes: A holds a
 * dataset (priced), B fetches it, then B's API describes A.
 */
describe('peer detail, dashboard snapshot and favicon', () => {
  let swarm: Swarm
  let a: Bwnode
  let b: Bwnode
  let fetched = 0
  const api = (node: Bwnode) => {
    const app = createApiApp('token', { bindHost: '127.0.0.1', allowedHosts: ['localhost'] })
    registerNodeRoutes(app, node)
    registerDashboardRoutes(app, node, { offerRefreshMs: 60_000 })
    return app
  }
  const get = async (node: Bwnode, url: string) => {
    const app = api(node)
    try {
      return await app.inject({ method: 'GET', url, headers: { host: 'localhost' } })
    } finally {
      await app.close()
    }
  }

  beforeAll(async () => {
    swarm = await startSwarm(2, () => ({ offer: { uplinkMbps: 0, pricePerGiB: 200 } }))
    ;[a, b] = swarm.nodes as [Bwnode, Bwnode]
    const info = await a.datasets.add(await randomDataset(await tempDir(), 'detail', 2, 300_000), {})
    const done = await settleTransfer(b, b.datasets.startFetch(info.cid).id)
    expect(done.state).toBe('done')
    fetched = done.result!.fetchedBytes
    await b.queries.ping(a.peerId.toString())
    await b.queries.ping(a.peerId.toString())
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('describes a peer: connection, RTT history, bytes each way, credits', async () => {
    const reply = await get(b, `/api/peers/${a.peerId}`)
    expect(reply.statusCode).toBe(200)
    const detail = reply.json<PeerDetail>()
    expect(detail.peerId).toBe(a.peerId.toString())
    expect(detail.connected).toBe(true)
    expect(detail.addrs.some((addr) => addr.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    expect(detail.connections.length).toBeGreaterThanOrEqual(1)
    for (const c of detail.connections) {
      expect(c.relayed).toBe(false)
      expect(c.remoteAddr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
      expect(c.openedAt).toBeGreaterThan(0)
    }
    expect(detail.rttHistory.length).toBeGreaterThanOrEqual(2)
    expect(detail.rttHistory.every((s) => s.rttMs >= 0 && s.time > 0)).toBe(true)
    expect(detail.rttMs?.samples).toBeGreaterThanOrEqual(2)
    expect(detail.traffic.totalIn).toBe(fetched)
    expect(detail.traffic.totalOut).toBe(0)
    expect(detail.credits.spent).toBeGreaterThan(0)
    expect(detail.credits.earned).toBe(0)
    expect(detail.deliveredBytesPerSec).toBeGreaterThan(0)
    // A's offer is uncapped: no offered rate to compare with.
    expect(detail.offeredBytesPerSec).toBeNull()

    // And from A's side: the bytes went out, the credits came in.
    const seen = (await get(a, `/api/peers/${b.peerId}`)).json<PeerDetail>()
    expect(seen.traffic.totalOut).toBeGreaterThanOrEqual(fetched)
    expect(seen.credits.earned).toBeGreaterThan(0)
  })

  it('refuses an unknown peer (404) and a malformed id (400)', async () => {
    const unknown = await get(b, '/api/peers/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf')
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } })
    const bad = await get(b, '/api/peers/not-a-peer')
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ error: { code: 'ERR_BAD_PEER_ID' } })
  })

  it('the snapshot carries the version, bandwidth history and disk figures', async () => {
    const snapshot = (await get(b, '/api/dashboard')).json<DashboardSnapshot>()
    expect(snapshot.node.version).toBe(packageVersion())
    expect(snapshot.bandwidth.totalIn).toBe(fetched)
    expect(snapshot.bandwidth.series.length).toBeGreaterThanOrEqual(1)
    const inSeries = snapshot.bandwidth.series.reduce((sum, p) => sum + p.rateIn, 0)
    expect(inSeries).toBeGreaterThan(0)
    expect(snapshot.disk.storedBytes).toBe(fetched)
    expect(snapshot.disk.diskFreeBytes).toBeGreaterThan(0)
    expect(snapshot.peers.find((p) => p.peerId === a.peerId.toString())?.fetchedBytes).toBe(fetched)
  })

  it('serves an icon at /favicon.ico', async () => {
    const reply = await get(b, '/favicon.ico')
    expect(reply.statusCode).toBe(200)
    expect(reply.headers['content-type']).toBe('image/x-icon')
    const body = reply.rawPayload
    expect([...body.subarray(0, 4)]).toEqual([0, 0, 1, 0]) // ICONDIR: reserved, type 1 (icon)
    expect(body.readUInt16LE(4)).toBe(1)
    expect(body.readUInt32LE(6 + 8)).toBe(body.length - 22) // the one image fills the rest
  })
})
