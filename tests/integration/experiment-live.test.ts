import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseResults } from '../../src/experiment/types.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir, waitFor } from '../helpers/daemon.ts'

/**
 * `bwnode experiment --live` against real daemons (separate processes, real TCP, no emulator):
 * three daemons holding a dataset, measured from local storage, each provider, and all of them.
 * (tests/e2e/netns-lab.test.ts runs the same flow between separate network namespaces.)
 */
describe('bwnode experiment --live', () => {
  const daemons: DaemonProcess[] = []
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')))
  })

  it('measures local storage vs each real peer vs all of them and writes the report', async () => {
    const listen = ['--listen', '/ip4/127.0.0.1/tcp/0']
    const a = await startDaemonProcess(listen, await tempDir())
    daemons.push(a)
    const b = await startDaemonProcess([...listen, '--bootstrap', a.listen[0]!], await tempDir())
    daemons.push(b)
    const c = await startDaemonProcess([...listen, '--bootstrap', a.listen[0]!], await tempDir())
    daemons.push(c)
    const seeded = await runCli(['seed', 'samples', '--scale', '0.02', '--data', a.dataDir, '--json'])
    expect(seeded.code).toBe(0)
    const { cid } = JSON.parse(seeded.stdout) as { cid: string }
    for (const peer of [b, c]) {
      const fetched = await runCli(['fetch', cid, '--data', peer.dataDir, '--json'])
      expect(fetched.code).toBe(0)
      // A peer announces the dataset after fetching it; wait until A's DHT walk can find it.
      await waitFor(async () =>
        (await runCli(['ls', '--data', peer.dataDir])).stdout.includes('advertised') ? true : undefined,
      )
    }

    const out = join(await tempDir(), 'live')
    const result = await runCli(['experiment', '--live', '--data', a.dataDir, '--out', out, '--json'], {
      timeoutMs: 220_000,
    })
    expect(result.code, result.stderr).toBe(0)
    const summary = JSON.parse(result.stdout) as { reportPath: string; verdicts: Array<{ workload: string }> }
    expect(summary.verdicts.map((v) => v.workload)).toContain('W2-sequential-shards')

    const results = parseResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')))
    expect(results.config.mode).toBe('live')
    // The real providers, as measured: the three daemons, with their pings and signed offers.
    const live = results.live!
    expect(live.providers.map((p) => p.peerId).sort()).toEqual([a.peerId, b.peerId, c.peerId].sort())
    for (const p of live.providers) {
      expect(p.pingsMs).toHaveLength(5)
      expect(p.offer?.uplinkMbps).toBeGreaterThan(0)
    }
    expect(live.errors).toEqual([])
    // It paid them (the daemons charge 1 credit/GiB by default) and nothing compares a figure with itself.
    expect(live.creditsSpent).toBeGreaterThan(0)
    expect(results.calibration.rtt).toEqual([])
    expect(results.calibration.zeroDelayOverheadRatio).toBeUndefined()
    const w2 = results.cells.filter((c) => c.workload === 'W2-sequential-shards')
    expect(w2.some((c) => c.placement === 'P0-local-warm')).toBe(true)
    // One cell per real provider (A, B and C), and one for all of them together.
    expect(w2.filter((cell) => cell.placement === 'P2-residential-peers' && cell.k === 1)).toHaveLength(3)
    expect(w2.some((cell) => cell.k === 3)).toBe(true)
    // W4 has its local baseline (the staged copy copied on this machine), so its verdict is decided
    // from the same rules as in the lab, not left inconclusive for want of a cell.
    const w4 = results.cells.filter((c) => c.workload === 'W4-bulk-staging')
    expect(w4.map((c) => c.role).sort()).toEqual(['local', 'network'])
    expect(summary.verdicts.map((v) => v.workload)).toContain('W4-bulk-staging')
    for (const cell of results.cells) {
      expect(cell.error).toBeUndefined()
      // the cell's label (what the report and the verdict use), from its runs
      expect(cell.fidelity?.label, cell.id).toBeDefined()
      for (const run of cell.runs) {
        expect(run.bytes).toBeGreaterThan(0)
        expect([
          'local',
          'link-bound',
          'window-bound',
          'consumer-paced',
          'network-bound',
          'machine-bound',
        ]).toContain(run.fidelity?.label)
      }
    }
    const report = await readFile(summary.reportPath, 'utf8')
    expect(report).toMatch(/Live run on a real network/)
    expect(report).toMatch(/## Providers/)
    expect(report).toMatch(/## What was measured/)
    // W4 is decided on its cells like the others, not by the missing-cell rule
    expect(report).toMatch(/### W4-bulk-staging: \S+\n\n- Rule R[2-4]/)
    // none of the emulated lab's sections or placements
    expect(report).not.toMatch(/## Calibration|link emulator adds|P3 a distant origin|Zero-delay overhead/)
    expect((await stat(join(out, 'charts'))).isDirectory()).toBe(true)
  }, 240_000)
})
