import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatasetInfo } from '../../src/contract/api.ts'
import { ERR } from '../../src/errors/codes.ts'
import { generateSeed } from '../../src/store/seed.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

const SCALE = 0.02
const PICKED = ['train/000007.jpg', 'train/000031.jpg']

interface FetchSummary {
  bytes: number
  fetchedBytes: number
  complete: boolean
  paths?: string[]
  resumedChunks: number
  out: string | null
}

/**
 * `bwnode get` and `fetch --path` against real daemons: B takes two files of A's 41, then the
 * rest; the files written are A's byte for byte, and nothing outside the selection is fetched.
 */
describe('bwnode get: some files of a dataset', () => {
  const daemons: DaemonProcess[] = []
  let a: DaemonProcess
  let b: DaemonProcess
  let cid = ''
  let seedRoot = ''

  beforeAll(async () => {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    a = await startDaemonProcess(listen, await tempDir())
    daemons.push(a)
    b = await startDaemonProcess([...listen, '--bootstrap', a.listen[0]!], await tempDir())
    daemons.push(b)
    const seeded = await runCli(['seed', 'samples', '--scale', String(SCALE), '--data', a.dataDir, '--json'])
    expect(seeded.code, seeded.stderr).toBe(0)
    cid = (JSON.parse(seeded.stdout) as { cid: string }).cid
    seedRoot = await generateSeed('samples', await tempDir(), { scale: SCALE })
  })
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('fetches and writes only the files named, then the rest resumes from them', async () => {
    const out = join(await tempDir(), 'picked')
    const got = await runCli(['get', cid, ...PICKED, '--out', out, '--data', b.dataDir, '--json'])
    expect(got.code, got.stderr).toBe(0)
    const summary = JSON.parse(got.stdout) as FetchSummary
    const pickedBytes = (await Promise.all(PICKED.map((p) => readFile(join(seedRoot, p))))).reduce(
      (sum, bytes) => sum + bytes.byteLength,
      0,
    )
    expect(summary.complete).toBe(false)
    expect(summary.paths).toEqual(PICKED)
    expect(summary.bytes).toBe(pickedBytes)
    expect(summary.fetchedBytes).toBeLessThanOrEqual(pickedBytes)
    expect(await readdir(join(out, 'train'))).toEqual(PICKED.map((p) => p.slice('train/'.length)))
    for (const path of PICKED) {
      expect((await readFile(join(out, path))).equals(await readFile(join(seedRoot, path)))).toBe(true)
    }
    const listed = JSON.parse((await runCli(['ls', '--data', b.dataDir, '--json'])).stdout) as DatasetInfo[]
    expect(listed.find((d) => d.cid === cid)?.complete).toBe(false)

    // The rest of the folder: the two files already here are not fetched again.
    const rest = await runCli(['fetch', cid, '--path', 'train/', '--data', b.dataDir, '--json'])
    expect(rest.code, rest.stderr).toBe(0)
    const whole = JSON.parse(rest.stdout) as FetchSummary
    expect(whole.complete).toBe(true)
    expect(whole.resumedChunks).toBeGreaterThanOrEqual(PICKED.length)
    expect(whole.fetchedBytes).toBeLessThanOrEqual(whole.bytes - pickedBytes)
  })

  it('names a path the dataset does not have, and writes nothing', async () => {
    const out = join(await tempDir(), 'none')
    const got = await runCli(['get', cid, 'train/nope.jpg', '--out', out, '--data', b.dataDir, '--json'])
    expect(got.code).not.toBe(0)
    const error = (JSON.parse(got.stdout || got.stderr) as { error: { code: string; message: string } }).error
    expect(error.code).toBe(ERR.NOT_FOUND)
    expect(error.message).toContain('train/nope.jpg')
    expect(existsSync(out)).toBe(false)
  })
})
