import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BIN } from '../helpers/daemon.ts'

/** The machine's own Node (20 here) must get a clear message, not a crash. */
const SYSTEM_NODE = '/usr/bin/node'

function systemNodeMajor(): number | undefined {
  if (!existsSync(SYSTEM_NODE)) return undefined
  const version = execFileSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).trim()
  return Number(version.replace(/^v/, '').split('.')[0])
}

describe('bwnode under an old Node', () => {
  const major = systemNodeMajor()
  it.runIf(major !== undefined && major < 22)('says which Node it needs and exits 2', () => {
    const result = spawnSync(SYSTEM_NODE, [BIN, 'status'], { encoding: 'utf8' })
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/bwnode needs Node\.js >= 22\.18/)
    expect(result.stderr).toMatch(/npx bwnode/)
    expect(result.stderr).not.toMatch(/at .*:\d+:\d+/)
  })

  it('runs under the bundled Node 24', () => {
    const result = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' })
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24)
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })
})
