import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BIN, tempDir } from '../helpers/daemon.ts'

/**
 * Ctrl-C during `bwnode experiment` stops it between measurements: its nodes stop at once, the
 * work dir (the datasets, hundreds of MB in the temp dir) is removed, no report is written, and
 * the command exits 130. Before, the run went on to its last cell.
 */
describe('bwnode experiment interrupted', () => {
  it('stops, removes its work dir and writes no report on SIGINT', async () => {
    const tmpRoot = await tempDir('bwnode-exp-abort-')
    const out = join(tmpRoot, 'out')
    const child = spawn(process.execPath, [BIN, 'experiment', '--quick', '--out', out], {
      env: { ...process.env, TMPDIR: tmpRoot },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()))
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    // Interrupt once calibration is moving data between its nodes.
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`calibration never started:\n${log}`)), 300_000)
      child.stderr.on('data', () => {
        if (/calibration: zero-delay link/.test(log)) {
          clearTimeout(timer)
          done()
        }
      })
    })
    const workDir = /work dir (\S+)/.exec(log)?.[1] ?? ''
    expect(workDir.startsWith(tmpRoot)).toBe(true)
    expect(existsSync(workDir)).toBe(true)
    const interruptedAt = performance.now()
    child.kill('SIGINT')
    const code = await exited
    const stopSeconds = (performance.now() - interruptedAt) / 1000
    expect(code, log).toBe(130)
    expect(log).toMatch(/SIGINT, stopping \(no report is written\)/)
    // Without the abort the quick run goes on for many minutes; stopping takes one transfer at most.
    expect(stopSeconds).toBeLessThan(120)
    expect(existsSync(workDir)).toBe(false)
    expect(readdirSync(tmpRoot).filter((name) => name.startsWith('bwnode-experiment-'))).toEqual([])
    expect(existsSync(join(out, 'report.md'))).toBe(false)
    await rm(tmpRoot, { recursive: true, force: true })
  }, 480_000)
})
