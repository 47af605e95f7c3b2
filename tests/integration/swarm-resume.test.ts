import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { TransferInfo } from '../../src/contract/api.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir, waitFor } from '../helpers/daemon.ts'
import { randomDataset, readTree } from '../helpers/swarm.ts'

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0']

interface CreditsJson {
  balance: number
  earned: number
  spent: number
  grant: number
  peers: Array<{ peerId: string; earned: number; spent: number; paidBytes: number; boughtBytes: number }>
}

async function apiPost<T>(daemon: DaemonProcess, path: string, body: unknown): Promise<T> {
  const { token } = JSON.parse(await readFile(join(daemon.dataDir, 'api.json'), 'utf8')) as { token: string }
  const response = await fetch(`${daemon.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

async function transfer(daemon: DaemonProcess, id: string): Promise<TransferInfo> {
  const response = await fetch(`${daemon.apiUrl}/api/transfers/${id}`)
  return (await response.json()) as TransferInfo
}

async function cliJson<T>(args: string[]): Promise<T> {
  const result = await runCli([...args, '--json'])
  if (result.code !== 0) throw new Error(`bwnode ${args.join(' ')}: ${result.code}\n${result.stderr}`)
  return JSON.parse(result.stdout) as T
}

/** Balance is grant + earned - spent, and the per-peer figures sum to the totals (credits, 6 decimals). */
function expectTotalsAddUp(c: CreditsJson): void {
  const sum = (pick: (p: CreditsJson['peers'][number]) => number) =>
    c.peers.reduce((total, p) => total + pick(p), 0)
  expect(c.balance).toBeCloseTo(c.grant + c.earned - c.spent, 6)
  expect(sum((p) => p.earned)).toBeCloseTo(c.earned, 6)
  expect(sum((p) => p.spent)).toBeCloseTo(c.spent, 6)
}

/**
 * Two daemons in separate processes: A seeds at a capped uplink so a fetch
 * takes seconds, B fetches and is killed with SIGKILL midway. Restarted on the
 * same data dir, B resumes without refetching the verified chunks, and both
 * ledgers still verify and agree.
 */
describe('a fetch killed with SIGKILL resumes', () => {
  const daemons: DaemonProcess[] = []
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('resumes from the verified chunks, byte-identical, with consistent credits', async () => {
    const work = await tempDir('bwnode-resume-')
    // 8 Mbit/s = 1 MB/s: 3 MiB take about 3 s.
    const configA = join(work, 'a.json')
    await writeFile(configA, JSON.stringify({ offer: { uplinkMbps: 8, pricePerGiB: 50 } }))
    const a = await startDaemonProcess(['--config', configA, ...LISTEN], join(work, 'a'))
    daemons.push(a)
    const source = await randomDataset(work, 'resume-src', 3, 1024 * 1024)
    const added = await cliJson<{ cid: string; bytes: number; chunks: number }>([
      'add',
      source,
      '--chunk-size',
      '65536',
      '--data',
      a.dataDir,
    ])
    expect(added.chunks).toBe(48)

    const bArgs = [...LISTEN, '--bootstrap', `${a.listen[0]}`]
    const bDir = join(work, 'b')
    const b = await startDaemonProcess(bArgs, bDir)
    daemons.push(b)
    const first = await apiPost<TransferInfo>(b, '/api/fetch', { cid: added.cid })
    await waitFor(
      async () => {
        const info = await transfer(b, first.id)
        if (info.state !== 'running') throw new Error(`fetch ended before the kill: ${info.state}`)
        return (info.progress?.doneBytes ?? 0) > added.bytes / 3 ? info : undefined
      },
      { what: 'a third of the dataset', intervalMs: 20 },
    )
    await b.stop('SIGKILL')

    const b2 = await startDaemonProcess(bArgs, bDir)
    daemons.push(b2)
    expect(b2.peerId).toBe(b.peerId)
    const out = join(work, 'resume-out')
    const second = await apiPost<TransferInfo>(b2, '/api/fetch', { cid: added.cid, out })
    const done = await waitFor(
      async () => {
        const info = await transfer(b2, second.id)
        return info.state === 'running' ? undefined : info
      },
      { what: 'the resumed fetch', timeoutMs: 30_000, intervalMs: 50 },
    )
    expect(done.error).toBeNull()
    const result = done.result!
    expect(result.resumedChunks).toBeGreaterThan(0)
    expect(result.resumedChunks).toBeLessThan(added.chunks)
    expect(result.fetchedBytes).toBeLessThan(added.bytes)
    expect(result.fetchedBytes).toBeGreaterThan(0)
    expect(await readTree(out)).toEqual(await readTree(source))

    // The ledgers survived the kill: every voucher verifies and totals add up on both sides.
    for (const d of [a, b2]) {
      const verify = await runCli(['credits', 'verify', '--data', d.dataDir])
      expect(verify.code, verify.stderr).toBe(0)
      expect(verify.stdout).toMatch(/ledger ok/)
    }
    const bSide = await cliJson<CreditsJson>(['credits', '--data', b2.dataDir])
    expectTotalsAddUp(bSide)
    expect(bSide.spent).toBeGreaterThan(0)
    // Vouchers are cumulative: once the resumed fetch paid, A holds what B signed, nothing more.
    const aSide = await waitFor(
      async () => {
        const credits = await cliJson<CreditsJson>(['credits', '--data', a.dataDir])
        return Math.abs(credits.earned - bSide.spent) < 1e-9 ? credits : undefined
      },
      { what: 'A to be credited every voucher B signed', timeoutMs: 10_000 },
    )
    expectTotalsAddUp(aSide)
    const aFromB = aSide.peers.find((p) => p.peerId === b.peerId)!
    const bToA = bSide.peers.find((p) => p.peerId === a.peerId)!
    expect(aFromB.earned).toBeCloseTo(bToA.spent, 6)
    expect(aFromB.paidBytes).toBe(bToA.boughtBytes)
    // B paid for what it fetched after the restart, and never for the same bytes twice.
    expect(bToA.boughtBytes).toBeGreaterThanOrEqual(result.fetchedBytes)
    expect(bToA.boughtBytes).toBeLessThanOrEqual(added.bytes)
  })
})
