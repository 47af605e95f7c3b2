import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { NodeStatus, PeerEntry } from '../../src/contract/api.ts'
import { type DaemonProcess, getJson, startDaemonProcess, tempDir, waitFor } from '../helpers/daemon.ts'

/**
 * Three daemons in separate processes on 127.0.0.1: B and C bootstrap from A,
 * and every node must reach the other two through the private DHT. Then B
 * restarts with the same data dir, keeps its peer id, and rejoins.
 */
describe('three daemons on one private DHT', () => {
  const daemons: DaemonProcess[] = []
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('bootstraps, finds every peer through the DHT, and survives a restart', async () => {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    const a = await startDaemonProcess(listen, await tempDir())
    daemons.push(a)
    const bootstrap = ['--bootstrap', a.listen[0]!]
    const [b, c] = await Promise.all([
      startDaemonProcess([...listen, ...bootstrap], await tempDir()),
      startDaemonProcess([...listen, ...bootstrap], await tempDir()),
    ])
    daemons.push(b!, c!)
    const all = [a, b!, c!]

    const apiFile = await stat(join(a.dataDir, 'api.json'))
    expect(apiFile.mode & 0o777).toBe(0o600)

    // B and C never dialled each other: each must learn the other's address from the DHT.
    for (const node of all) {
      for (const other of all) {
        if (other === node) continue
        const found = await waitFor(
          async () => {
            const result = await getJson<{ peerId: string; addrs: string[] }>(
              `${node.apiUrl}/api/peers/${other.peerId}/find`,
            )
            return result.addrs.length > 0 ? result : undefined
          },
          { what: `${node.peerId} finding ${other.peerId}` },
        )
        expect(found.peerId).toBe(other.peerId)
        expect(found.addrs.some((addr) => other.listen.some((l) => l.startsWith(addr)))).toBe(true)
      }
    }
    for (const node of all) {
      const status = await getJson<NodeStatus>(`${node.apiUrl}/api/status`)
      expect(status.dhtMode).toBe('server')
      expect(status.dhtRoutingTableSize).toBeGreaterThanOrEqual(2)
      // the first walk of the DHT, which every lookup of a new node waits for, has finished
      const joined = await waitFor(
        async () => (await getJson<NodeStatus>(`${node.apiUrl}/api/status`)).dhtJoined ?? undefined,
        { what: `${node.peerId} joining the DHT` },
      )
      expect(joined.peersFound).toBeGreaterThan(0)
      expect(joined.afterSeconds).toBeGreaterThan(0)
      const ping = await getJson<{ rttMs: number }>(
        `${node.apiUrl}/api/peers/${all.find((x) => x !== node)!.peerId}/ping`,
      )
      expect(ping.rttMs).toBeGreaterThanOrEqual(0)
    }

    // Clean shutdown removes api.json; a restart keeps the peer id and rejoins.
    expect(await b!.stop('SIGTERM')).toBe(0)
    await expect(stat(join(b!.dataDir, 'api.json'))).rejects.toThrow()
    const b2 = await startDaemonProcess([...listen, ...bootstrap], b!.dataDir)
    daemons.push(b2)
    expect(b2.peerId).toBe(b!.peerId)
    await waitFor(
      async () => {
        const peers = await getJson<PeerEntry[]>(`${c!.apiUrl}/api/peers`)
        return peers.some(
          (p) => p.peerId === b2.peerId && p.addrs.some((addr) => b2.listen[0]!.startsWith(addr)),
        )
          ? true
          : undefined
      },
      { what: 'C learning the restarted B address' },
    )
    const found = await getJson<{ addrs: string[] }>(`${c!.apiUrl}/api/peers/${b2.peerId}/find`)
    expect(found.addrs.some((addr) => b2.listen[0]!.startsWith(addr))).toBe(true)
    const ping = await getJson<{ rttMs: number }>(`${c!.apiUrl}/api/peers/${b2.peerId}/ping`)
    expect(ping.rttMs).toBeGreaterThanOrEqual(0)
  })
})
