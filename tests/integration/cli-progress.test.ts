import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { runCli, tempDir, waitFor } from '../helpers/daemon.ts'
import { randomDataset } from '../helpers/swarm.ts'

const MB = 1_000_000

interface Event {
  event: string
  command: string
  time: number
  doneBytes?: number
  totalBytes?: number | null
  etaSeconds?: number | null
  result?: { cid: string }
  error?: { code: string }
}

const events = (stderr: string): Event[] =>
  stderr
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Event)

/**
 * `add` and `fetch` progress through the real CLI against daemons on 127.0.0.1: NDJSON events
 * on stderr beside a valid --json result, plain lines every 2 s off a terminal, a bar without
 * raw numbers. The provider lends 8 Mbit/s, so a 4 MB fetch takes about 4 s.
 */
describe('CLI progress for add and fetch', () => {
  let work: string
  let provider: RunningDaemon
  let consumer: RunningDaemon
  let source: string
  let cid: string
  const consumerDir = () => consumer.node.dataDir

  beforeAll(async () => {
    work = await tempDir('bwnode-cli-progress-')
    provider = await startDaemon(
      parseConfig(
        { dataDir: join(work, 'provider'), listen: ['/ip4/127.0.0.1/tcp/0'], offer: { uplinkMbps: 8 } },
        'provider',
      ),
    )
    consumer = await startDaemon(
      parseConfig(
        {
          dataDir: join(work, 'consumer'),
          listen: ['/ip4/127.0.0.1/tcp/0'],
          bootstrap: [`${provider.node.queries.status().multiaddrs[0]}`],
        },
        'consumer',
      ),
    )
    await waitFor(async () => (consumer.node.queries.status().connectedPeers >= 1 ? true : undefined), {
      what: 'consumer connected',
    })
    source = await randomDataset(work, 'data', 4, MB)
  })
  afterAll(async () => {
    await consumer?.stop()
    await provider?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it('add --progress json --json: NDJSON events on stderr, the result alone on stdout', async () => {
    const result = await runCli([
      'add',
      source,
      '--data',
      provider.node.dataDir,
      '--progress',
      'json',
      '--json',
    ])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout) as { cid: string; bytes: number; chunks: number }
    expect(out.bytes).toBe(4 * MB)
    cid = out.cid
    const list = events(result.stderr)
    expect(list.at(-1)).toMatchObject({ event: 'done', command: 'add', result: { cid } })
    const progress = list.filter((e) => e.event === 'progress')
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.at(-1)).toMatchObject({
      doneBytes: 4 * MB,
      totalBytes: 4 * MB,
      doneFiles: 4,
      totalFiles: 4,
    })
    // The daemon has the dataset, and lists the add.
    expect((await provider.node.store.get(cid))?.complete).toBe(true)
    expect(provider.node.datasets.listAdds()[0]).toMatchObject({ state: 'done', result: { cid } })
  })

  it('add off a terminal prints an end line on stderr and the CID on stdout; --json alone prints no progress', async () => {
    const [plain, json] = await Promise.all([
      runCli(['add', source, '--data', provider.node.dataDir]),
      runCli(['add', source, '--data', provider.node.dataDir, '--json']),
    ])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout.trim()).toBe(cid)
    expect(plain.stderr).toMatch(
      new RegExp(`^add ${source}: 4 MB of 4 MB \\(100%\\) in \\d+\\.\\d s, 4 of 4 files$`, 'm'),
    )
    expect(json.stderr).toBe('')
    expect(JSON.parse(json.stdout)).toMatchObject({ cid, bytes: 4 * MB })
  })

  it('add of a missing path fails with its code, as an error event under --progress json', async () => {
    const missing = join(work, 'missing')
    const [human, events_] = await Promise.all([
      runCli(['add', missing, '--data', provider.node.dataDir]),
      runCli(['add', missing, '--data', provider.node.dataDir, '--progress', 'json']),
    ])
    expect(human.code).toBe(1)
    expect(human.stderr).toMatch(/no such file or directory/)
    expect(events_.code).toBe(1)
    expect(events(events_.stderr).at(-1)).toMatchObject({ event: 'error', error: { code: 'ERR_NOT_FOUND' } })
  })

  it('fetch --progress json --json: progress events with totals and ETA, a done event, valid --json output', async () => {
    const result = await runCli(
      ['fetch', cid, '--data', consumerDir(), '--no-seed', '--progress', 'json', '--json'],
      { timeoutMs: 60_000 },
    )
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ cid, bytes: 4 * MB })
    const list = events(result.stderr)
    expect(list.at(-1)).toMatchObject({ event: 'done', command: 'fetch', result: { cid } })
    const progress = list.filter((e) => e.event === 'progress' && e.totalBytes !== null)
    // About 4 s at most every 0.5 s.
    expect(progress.length).toBeGreaterThanOrEqual(3)
    expect(progress.at(-1)).toMatchObject({ doneBytes: 4 * MB, totalBytes: 4 * MB })
    expect(progress.some((e) => typeof e.etaSeconds === 'number' && e.etaSeconds > 0)).toBe(true)
    for (let i = 1; i < list.length; i++) expect(list[i]!.time).toBeGreaterThanOrEqual(list[i - 1]!.time)
  })

  it('fetch off a terminal: a plain line every 2 s and one at the end; a forced bar shows SI figures only', async () => {
    await consumer.node.datasets.remove(cid)
    const plain = await runCli(['fetch', cid, '--data', consumerDir(), '--no-seed'], { timeoutMs: 60_000 })
    expect(plain.code, plain.stderr).toBe(0)
    const lines = plain.stderr.trimEnd().split('\n')
    const periodic = lines.filter((l) => /^fetch \S+: .* of (4 MB|\?) \(\S+%\), .*, ETA /.test(l))
    expect(periodic.length, plain.stderr).toBeGreaterThanOrEqual(1)
    expect(lines.at(-1)).toMatch(
      new RegExp(`^fetch ${cid}: 4 MB of 4 MB \\(100%\\) in \\d+\\.\\d s, \\d+ peers?$`),
    )
    expect(plain.stdout).toMatch(/^fetched /)

    await consumer.node.datasets.remove(cid)
    const bar = await runCli(['fetch', cid, '--data', consumerDir(), '--no-seed', '--progress', 'bar'], {
      timeoutMs: 60_000,
    })
    expect(bar.code, bar.stderr).toBe(0)
    expect(bar.stderr).toMatch(/100% \| 4 MB of 4 MB \| [\d.]+ [kM]B\/s \| ETA 0 s \| \d+ peers?/)
    expect(bar.stderr).not.toMatch(/NFs|NaN|4000000|of 1 |MiB/)
  })

  it('refuses an unknown progress mode (exit 2)', async () => {
    const result = await runCli(['add', source, '--data', provider.node.dataDir, '--progress', 'loud'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--progress.*Allowed choices are auto, bar, plain, json, none/)
  })
})
