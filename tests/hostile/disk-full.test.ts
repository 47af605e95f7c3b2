import { execFile } from 'node:child_process'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransferInfo } from '../../src/contract/api.ts'
import { openDatabase } from '../../src/db/database.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import {
  type ApiHandle,
  api,
  type DaemonProcess,
  readApiFile,
  startDaemonProcess,
  tempDir,
  waitFor,
} from '../helpers/daemon.ts'
import { dialAddr, randomDataset, readTree, startNode, stopQuietly } from '../helpers/swarm.ts'

const run = promisify(execFile)
const MiB = 1024 * 1024

/**
 * A fetch onto a full disk: the daemon's data dir is a small tmpfs (this test mounts it; CI runs
 * as root, as the netns lab test does). The fetch must fail with a clear error, the daemon must
 * stay up, the store must verify, and once there is room the same fetch resumes and completes.
 */
describe('disk full during a fetch', () => {
  let mountPoint: string
  let work: string
  let provider: Bwnode | undefined
  let daemon: DaemonProcess | undefined

  beforeAll(async () => {
    work = await tempDir('bwnode-diskfull-work-')
    mountPoint = await tempDir('bwnode-diskfull-mnt-')
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint])
  })
  afterAll(async () => {
    await daemon?.stop('SIGKILL')
    if (provider !== undefined) await stopQuietly(provider)
    await run('umount', ['-l', mountPoint]).catch(() => {})
    await rm(work, { recursive: true, force: true })
  })

  it('fails with ERR_DISK_FULL, stays up with a store that verifies, and resumes once there is room', async () => {
    provider = await startNode(await tempDir('bwnode-diskfull-provider-'))
    const source = await randomDataset(work, 'big', 4, 2 * MiB)
    const { cid } = await provider.datasets.add(source, { name: 'big', chunkSize: 256 * 1024 })

    const dataDir = join(mountPoint, 'node')
    await mkdir(dataDir)
    const config = join(work, 'node.json')
    // A 1 MiB reserve for the database on a 4 MiB disk; the 8 MiB dataset cannot fit.
    await writeFile(
      config,
      JSON.stringify({ latency: { pingIntervalMs: 60_000 }, store: { minFreeBytes: 1024 * 1024 } }),
    )
    daemon = await startDaemonProcess(['--config', config, '--bootstrap', dialAddr(provider)], dataDir)
    const handle: ApiHandle = await readApiFile(dataDir)

    const fetchOnce = async (): Promise<TransferInfo> => {
      const started = await api<TransferInfo>(handle, 'POST', '/api/fetch', { cid, seed: false })
      return waitFor(
        async () => {
          const info = await api<TransferInfo>(handle, 'GET', `/api/transfers/${started.id}`)
          return info.state === 'running' ? undefined : info
        },
        { what: 'the fetch to end', timeoutMs: 60_000 },
      )
    }

    const full = await fetchOnce()
    console.log(`fetch onto a 4 MiB tmpfs: ${full.state}, ${JSON.stringify(full.error)}`)
    expect(full.state).toBe('failed')
    expect(full.error?.code).toBe('ERR_DISK_FULL')
    expect(full.error?.message).toMatch(/no space left on the disk holding the data dir/)
    // Still up and answering.
    expect((await api<{ peerId: string }>(handle, 'GET', '/api/status')).peerId).toBe(daemon.peerId)
    expect(daemon.child.exitCode).toBeNull()

    // Room again: the same fetch resumes from the chunks already stored and completes.
    await run('mount', ['-o', 'remount,size=64m', mountPoint])
    const resumed = await fetchOnce()
    expect(resumed.error).toBeNull()
    expect(resumed.state).toBe('done')
    expect(resumed.result!.resumedChunks).toBeGreaterThan(0)
    expect(resumed.result!.fetchedBytes).toBeLessThan(resumed.result!.bytes)

    // The store verifies: every chunk re-hashes, nothing half-written was kept.
    await daemon.stop('SIGTERM')
    daemon = undefined
    const db = await openDatabase(dataDir)
    try {
      const store = new ContentStore({ dataDir, db })
      await store.start()
      const report = await store.verify(cid)
      expect(report.corrupt).toEqual([])
      expect(report.missing).toEqual([])
      const out = join(work, 'out')
      await store.exportDataset(cid, out)
      expect(await readTree(out)).toEqual(await readTree(source))
    } finally {
      await db.close()
    }
    expect((await readdir(dataDir)).length).toBeGreaterThan(0)
  })
})
