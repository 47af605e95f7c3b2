import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransferInfo } from '../../src/contract/api.ts'
import { ERR } from '../../src/errors/codes.ts'
import { generateSeed } from '../../src/store/seed.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

const SCALE = 0.02
const errorOf = (r: { stdout: string; stderr: string }) =>
  (JSON.parse(r.stdout || r.stderr) as { error: { code: string; message: string } }).error

/**
 * `bwnode transfers`, `transfers cancel` and `cat` against real daemons: B fetches from A, which
 * lends 1 Mbit/s, so the fetch is still running while `rm`, `cat` and `transfers` look at it.
 */
describe('bwnode transfers and cat', () => {
  const daemons: DaemonProcess[] = []
  let a: DaemonProcess
  let b: DaemonProcess
  let cid = ''
  let seedRoot = ''

  beforeAll(async () => {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    a = await startDaemonProcess([...listen, '--uplink', '1'], await tempDir())
    daemons.push(a)
    b = await startDaemonProcess([...listen, '--bootstrap', a.listen[0]!], await tempDir())
    daemons.push(b)
    const seeded = await runCli(['seed', 'samples', '--scale', String(SCALE), '--data', a.dataDir, '--json'])
    expect(seeded.code, seeded.stderr).toBe(0)
    cid = (JSON.parse(seeded.stdout) as { cid: string }).cid
    // the same recipe, generated here: the files `cat` must reproduce byte for byte
    seedRoot = await generateSeed('samples', await tempDir(), { scale: SCALE })
  })
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('lists a running fetch, refuses to remove or cat what it has not finished, cancels it', async () => {
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
    expect(errorOf(rm).code).toBe(ERR.FETCH_RUNNING)
    expect(errorOf(rm).message).toContain(`bwnode transfers cancel ${transfer.id}`)

    // The last sample is not here yet (1 Mbit/s): cat says so rather than print a part of it.
    const last = await runCli(['cat', cid, 'train/000040.jpg', '--data', b.dataDir, '--json'])
    expect(last.code).not.toBe(0)
    expect([ERR.DATASET_INCOMPLETE, ERR.DATASET_NOT_FOUND]).toContain(errorOf(last).code)

    const cancelled = await runCli(['transfers', 'cancel', transfer.id, '--data', b.dataDir])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(cancelled.stdout).toContain(`transfer ${transfer.id} (${cid}): cancelled`)

    const after = await runCli(['transfers', '--data', b.dataDir, '--json'])
    const entry = (JSON.parse(after.stdout) as TransferInfo[]).find((t) => t.id === transfer.id)
    expect(entry?.state).toBe('cancelled')

    const unknown = await runCli(['transfers', 'cancel', 'no-such-id', '--data', b.dataDir, '--json'])
    expect(unknown.code).not.toBe(0)
    expect(errorOf(unknown).code).toBe(ERR.NOT_FOUND)
  })

  it('cats a file of a dataset held here byte for byte, and names what it cannot find', async () => {
    const result = await runCli(['cat', cid, 'train/000007.jpg', '--data', a.dataDir])
    expect(result.code, result.stderr).toBe(0)
    const expected = await readFile(join(seedRoot, 'train', '000007.jpg'))
    expect(result.stdoutBytes.equals(expected)).toBe(true)

    const noFile = await runCli(['cat', cid, 'train/nope.jpg', '--data', a.dataDir, '--json'])
    expect(errorOf(noFile).code).toBe(ERR.NOT_FOUND)
    expect(errorOf(noFile).message).toMatch(/no file train\/nope\.jpg in dataset \S+ \(it has 41: train\//)
    const noDataset = await runCli(['cat', cid, 'train/000007.jpg', '--data', b.dataDir, '--json'])
    expect([ERR.DATASET_NOT_FOUND, ERR.DATASET_INCOMPLETE]).toContain(errorOf(noDataset).code)
  })
})
