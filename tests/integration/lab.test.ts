import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { LabSummary } from '../../src/lab/lab.ts'
import { BIN, runCli, tempDir } from '../helpers/daemon.ts'

/** Pids of live processes whose command line mentions `needle` (Linux /proc). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmdline.includes(needle)) pids.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return pids
}

describe('bwnode lab (separate daemon processes)', () => {
  it('starts the lab, fetches through the DHT, prints the table and leaves nothing behind', async () => {
    const tmpRoot = await tempDir('bwnode-labtest-')
    const result = await runCli(['lab', '--no-experiment', '--json'], {
      env: { TMPDIR: tmpRoot },
      timeoutMs: 120_000,
    })
    expect(result.code, result.stderr).toBe(0)
    const summary = JSON.parse(result.stdout) as LabSummary

    // Every lab config ran as its own process, all in the DHT.
    expect(summary.nodes.map((n) => n.role).sort()).toEqual(
      ['consumer', 'datacentre', 'origin', 'residential', 'residential', 'residential', 'residential'].sort(),
    )
    expect(new Set(summary.nodes.map((n) => n.pid)).size).toBe(summary.nodes.length)
    for (const row of summary.table) expect(row.connectedPeers ?? 0).toBeGreaterThan(0)

    // The consumer fetched the whole dataset from several providers it found through the DHT.
    const consumerFetch = summary.fetches.find((f) => f.node === 'lab-consumer')
    expect(consumerFetch?.state).toBe('done')
    expect(consumerFetch?.bytes).toBe(summary.dataset.bytes)
    expect(summary.dataset.bytes).toBeGreaterThan(0)
    const fromProviders = consumerFetch?.providers.reduce((sum, p) => sum + p.bytes, 0)
    expect(fromProviders).toBe(summary.dataset.bytes)
    expect(consumerFetch?.providers.length).toBeGreaterThan(1)
    for (const provider of consumerFetch?.providers ?? [])
      expect(summary.dataset.seededOn).toContain(provider.name)

    // The consumer paid for what it fetched; providers earned.
    const consumerRow = summary.table.find((r) => r.role === 'consumer')
    expect(consumerRow?.spent ?? 0).toBeGreaterThan(0)
    expect(summary.table.some((r) => r.role !== 'consumer' && (r.earned ?? 0) > 0)).toBe(true)

    // The human log went to stderr: table header, peers, the fetch line.
    expect(result.stderr).toMatch(/node\s+role\s+km\s+peers\s+rtt p50 ms/)
    // 64 MiB, printed in the one base (SI) every size prints in
    expect(result.stderr).toMatch(/lab-consumer: fetch done: 67\.1 MB/)
    expect(summary.experiment).toEqual({ skipped: 'not requested (--no-experiment)' })

    // Nothing left: no daemon process, no temp dir.
    for (const node of summary.nodes) expect(() => process.kill(node.pid, 0)).toThrow()
    expect(processesMentioning(summary.root)).toEqual([])
    expect(existsSync(summary.root)).toBe(false)
    await rm(tmpRoot, { recursive: true, force: true })
  }, 150_000)

  it('stops every daemon and removes its temp dir on SIGINT', async () => {
    const tmpRoot = await tempDir('bwnode-labtest-')
    const child = spawn(process.execPath, [BIN, 'lab', '--no-experiment'], {
      env: { ...process.env, TMPDIR: tmpRoot },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    // Interrupt once every node has started: the lab then owns seven daemons.
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`lab never started its nodes:\n${output}`)), 90_000)
      child.stdout.on('data', () => {
        if ([...output.matchAll(/ pid \d+ /g)].length === 7) {
          clearTimeout(timer)
          done()
        }
      })
    })
    const root = /data under (\S+)\)/.exec(output)?.[1] ?? ''
    expect(root).not.toBe('')
    const pids = [...output.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
    expect(pids.length).toBe(7)
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow()
    expect(processesMentioning(root)).toEqual([])
    expect(existsSync(root)).toBe(false)
    await rm(tmpRoot, { recursive: true, force: true })
  }, 120_000)
})
