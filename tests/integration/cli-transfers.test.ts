import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { TransferInfo } from '../../src/contract/api.ts'
import { ERR } from '../../src/errors/codes.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

/**
 * `bwnode transfers` and `transfers cancel` against a daemon whose fetch from a slow provider is
 * still running, and `rm` of that dataset meanwhile.
 */
describe('bwnode transfers', () => {
  const daemons: DaemonProcess[] = []
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('lists a running fetch, refuses to remove its dataset, cancels it and lists it cancelled', async () => {
    // A provider lending 1 Mbit/s: fetching its ~5 MB takes ~40 s, time enough to look at the fetch.
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    const a = await startDaemonProcess([...listen, '--uplink', '1'], await tempDir())
    daemons.push(a)
    const b = await startDaemonProcess([...listen, '--bootstrap', a.listen[0]!], await tempDir())
    daemons.push(b)
    const seeded = await runCli(['seed', 'samples', '--scale', '0.02', '--data', a.dataDir, '--json'])
    expect(seeded.code, seeded.stderr).toBe(0)
    const { cid } = JSON.parse(seeded.stdout) as { cid: string }

    // A background fetch, as the dashboard starts one (the CLI's fetch follows its transfer).
    const token = (await readFile(join(b.dataDir, 'api-token'), 'utf8')).trim()
    const started = await fetch(`${b.apiUrl}/api/fetch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ cid }),
    })
    expect(started.status).toBe(200)
    const transfer = (await started.json()) as TransferInfo
    expect(transfer.state).toBe('running')

    const listed = await runCli(['transfers', '--data', b.dataDir])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(new RegExp(`${transfer.id}\\s+${cid}\\s+running`))

    // Removing what a fetch is writing would break it: refused, naming the transfer to cancel.
    const rm = await runCli(['rm', cid, '--data', b.dataDir, '--json'])
    expect(rm.code).not.toBe(0)
    expect(JSON.parse(rm.stdout || rm.stderr).error.code).toBe(ERR.FETCH_RUNNING)
    expect(rm.stdout + rm.stderr).toContain(`bwnode transfers cancel ${transfer.id}`)

    const cancelled = await runCli(['transfers', 'cancel', transfer.id, '--data', b.dataDir])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(cancelled.stdout).toMatch(/cancelled|failed/)

    const after = await runCli(['transfers', '--data', b.dataDir, '--json'])
    const entry = (JSON.parse(after.stdout) as TransferInfo[]).find((t) => t.id === transfer.id)
    expect(entry?.state).toBe('cancelled')

    const unknown = await runCli(['transfers', 'cancel', 'no-such-id', '--data', b.dataDir, '--json'])
    expect(unknown.code).not.toBe(0)
    expect(JSON.parse(unknown.stdout || unknown.stderr).error.code).toBe(ERR.NOT_FOUND)
  })
})
