import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import {
  type DaemonProcess,
  getJson,
  runCli,
  startDaemonProcess,
  tempDir,
  waitFor,
} from '../helpers/daemon.ts'
import { settleTransfer, startNode, stopQuietly } from '../helpers/swarm.ts'

const DAILY_CAP = 1024 ** 3

/** "HH:MM" local time `hours` from now. */
function hhmm(hours: number): string {
  const d = new Date(Date.now() + hours * 3_600_000)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/**
 * `bwnode start --uplink` and a config with lending limits in a real daemon process, read back
 * through `bwnode status` (text and --json); a peer fetches from it and `bwnode stats bw` shows
 * the traffic on both views.
 */
describe('CLI: --uplink, lending in status, stats bw', () => {
  let work: string
  let daemon: DaemonProcess
  let peer: Bwnode
  let cid: string
  const window = `${hhmm(-1)}-${hhmm(1)}`
  const cli = (args: string[]) => runCli([...args, '--data', daemon.dataDir])

  beforeAll(async () => {
    work = await tempDir('bwnode-cli-lending-')
    const config = join(work, 'node.json')
    await writeFile(config, JSON.stringify({ lending: { dailyCapBytes: DAILY_CAP, schedule: [window] } }))
    daemon = await startDaemonProcess(
      ['--config', config, '--listen', '/ip4/127.0.0.1/tcp/0', '--uplink', '12.5'],
      join(work, 'daemon'),
    )
    const seeded = await cli(['seed', 'tiny', '--json'])
    expect(seeded.code, seeded.stderr).toBe(0)
    cid = (JSON.parse(seeded.stdout) as { cid: string }).cid
    const listen = daemon.listen.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))!
    peer = await startNode(join(work, 'peer'), {}, [
      listen.includes('/p2p/') ? listen : `${listen}/p2p/${daemon.peerId}`,
    ])
  })
  afterAll(async () => {
    if (peer !== undefined) await stopQuietly(peer)
    await daemon?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it('status shows the uplink given with --uplink and the lending limits, open until the window ends', async () => {
    const text = await cli(['status'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('uplink      12.5 Mbit/s lent to peers, 8 peers at once')
    expect(text.stdout).toMatch(new RegExp(`lending {5}open until \\d{4}-\\d\\d-\\d\\d ${window.slice(6)}`))
    expect(text.stdout).toContain(`schedule    ${window} (local time)`)
    expect(text.stdout).toContain('today       0 B of 1.07 GB served (1.07 GB left)')
    expect(text.stdout).toContain('this month  0 B served (no monthly cap)')
    const json = await cli(['status', '--json'])
    const status = JSON.parse(json.stdout)
    expect(status.offer.uplinkMbps).toBe(12.5)
    expect(status.lending).toMatchObject({
      open: true,
      reason: null,
      schedule: [window],
      dailyCapBytes: DAILY_CAP,
      monthlyCapBytes: 0,
      usedTodayBytes: 0,
      remainingBytes: DAILY_CAP,
    })
    // The same object on GET /api/status.
    expect((await getJson<{ lending: unknown }>(`${daemon.apiUrl}/api/status`)).lending).toEqual(
      status.lending,
    )
  })

  it('after a peer fetched from it: stats bw per peer and dataset, and the bytes count against the cap', async () => {
    const { id } = await peer.datasets.startFetch(cid, { seed: false })
    const transfer = await settleTransfer(peer, id)
    expect(transfer.state, JSON.stringify(transfer.error)).toBe('done')
    const fetched = transfer.result!.fetchedBytes
    type Report = {
      since: number
      totalOut: number
      totalIn: number
      rateOut: number
      peers: Array<{ peerId: string; totalOut: number }>
      datasets: Array<{ cid: string; name: string; totalOut: number }>
    }
    // Served chunks are attributed to their dataset behind the server: wait for that.
    const report = await waitFor(
      async () => {
        const result = await cli(['stats', 'bw', '--json'])
        const parsed = JSON.parse(result.stdout) as Report
        return parsed.datasets[0]?.totalOut === fetched ? parsed : undefined
      },
      { what: 'served bytes attributed to the dataset', intervalMs: 300 },
    )
    // Out to the peer: the chunks and the manifest; the dataset's figure counts its chunks.
    expect(report.totalOut).toBeGreaterThan(fetched)
    expect(report.totalOut).toBeLessThan(fetched + 4096)
    expect(report.totalIn).toBe(0)
    expect(report.rateOut).toBeGreaterThan(0)
    expect(report.peers).toEqual([
      expect.objectContaining({ peerId: peer.peerId.toString(), totalOut: report.totalOut }),
    ])
    expect(report.datasets).toEqual([expect.objectContaining({ cid, name: 'tiny', totalOut: fetched })])

    const text = await cli(['stats', 'bw'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^bandwidth since the daemon started \(\d+ (s|min|h|d)\b/)
    expect(text.stdout).toMatch(/^out\s+\d+(\.\d+)? (kB|MB)\s+\d/m)
    expect(text.stdout).toMatch(/^PEER\s+IN\s+OUT\s+RATE IN\s+RATE OUT$/m)
    expect(text.stdout).toContain(peer.peerId.toString())
    expect(text.stdout).toMatch(new RegExp(`^${cid}\\s+tiny\\s+0 B\\s+\\d`, 'm'))

    // The fetching side sees the same bytes coming in, from the daemon, for the dataset.
    const mine = await peer.queries.bandwidthReport()
    expect(mine.totalIn).toBe(fetched)
    expect(mine.peers[0]).toMatchObject({ peerId: daemon.peerId, totalIn: fetched })
    expect(mine.datasets[0]).toMatchObject({ cid, totalIn: fetched })

    // Served bytes count against the daily cap (chunks and the manifest).
    const status = JSON.parse((await cli(['status', '--json'])).stdout)
    expect(status.lending.usedTodayBytes).toBe(report.totalOut)
    expect(status.lending.remainingBytes).toBe(DAILY_CAP - status.lending.usedTodayBytes)
  })

  it("peers read the daemon's lending state in its offer: open until the window ends, bytes left", async () => {
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const offer = await waitFor(
      async () => {
        const found = await peer.offers.fetch(peerIdFromString(daemon.peerId), {
          signal: AbortSignal.timeout(5_000),
        })
        return found?.lending?.remainingBytes !== undefined ? found : undefined
      },
      { what: "the daemon's offer", intervalMs: 300 },
    )
    const status = JSON.parse((await cli(['status', '--json'])).stdout)
    expect(offer.uplinkMbps).toBe(12.5)
    expect(offer.lending).toMatchObject({ open: true, until: status.lending.until })
    expect(offer.lending!.remainingBytes).toBeLessThanOrEqual(DAILY_CAP)
  })

  it('stats bw without a daemon says so, like every command', async () => {
    const result = await runCli(['stats', 'bw', '--data', await tempDir(), '--json'])
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'ERR_DAEMON_NOT_RUNNING' } })
  })
})
