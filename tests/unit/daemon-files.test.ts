import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { API_PORT_FILE, apiPortPlan, FIRST_PORT_RANGE, rememberApiPort } from '../../src/daemon/api-port.ts'
import { readOrCreateToken, writeNewToken } from '../../src/util/secret-file.ts'
import { tempDir } from '../helpers/daemon.ts'

describe('the API token file', () => {
  it('is made once with mode 0600, then read back; a rotation replaces it atomically', async () => {
    const file = join(await tempDir(), 'api-token')
    const first = await readOrCreateToken(file)
    expect(first.created).toBe(true)
    expect(first.token).toMatch(/^[0-9a-f]{48}$/)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readOrCreateToken(file)).toEqual({ token: first.token, created: false })
    const rotated = await writeNewToken(file)
    expect(rotated).not.toBe(first.token)
    expect((await readFile(file, 'utf8')).trim()).toBe(rotated)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('two processes making it at once agree on one token', async () => {
    const file = join(await tempDir(), 'api-token')
    const [a, b] = await Promise.all([readOrCreateToken(file), readOrCreateToken(file)])
    expect(a.token).toBe(b.token)
    expect([a.created, b.created].sort()).toEqual([false, true])
  })

  it('a token set by hand is kept; a file that holds no token is refused, naming it', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'own'), 'my-own-long-token-0123456789\n')
    expect((await readOrCreateToken(join(dir, 'own'))).token).toBe('my-own-long-token-0123456789')
    await writeFile(join(dir, 'bad'), 'short\n')
    await expect(readOrCreateToken(join(dir, 'bad'))).rejects.toThrow(/bad: not a token .* delete it/)
  })
})

describe('the API port of a data dir', () => {
  it('a configured port is used as it is (0 = any free port), never remembered', async () => {
    const dir = await tempDir()
    expect(await apiPortPlan(dir, 4020)).toEqual({ ports: [4020], remember: false })
    expect(await apiPortPlan(dir, 0)).toEqual({ ports: [0], remember: false })
  })

  it('a first choice draws ports below the ephemeral range, then any free one, and is remembered', async () => {
    const dir = await tempDir()
    let i = 0
    const plan = await apiPortPlan(dir, undefined, () => (i++ % 8) / 8)
    expect(plan.remember).toBe(true)
    expect(plan.ports).toHaveLength(9)
    expect(plan.ports.at(-1)).toBe(0)
    for (const port of plan.ports.slice(0, -1)) {
      expect(port).toBeGreaterThanOrEqual(FIRST_PORT_RANGE.min)
      expect(port).toBeLessThanOrEqual(FIRST_PORT_RANGE.max)
    }
    // A random source that repeats itself cannot hang the draw.
    expect((await apiPortPlan(dir, undefined, () => 0.5)).ports).toHaveLength(2)
  })

  it('a remembered port comes first, any free port after it; a damaged file is refused', async () => {
    const dir = await tempDir()
    await rememberApiPort(dir, 23456)
    expect(await apiPortPlan(dir, undefined)).toEqual({
      ports: [23456, 0],
      remembered: 23456,
      remember: false,
    })
    await writeFile(join(dir, API_PORT_FILE), 'http\n')
    await expect(apiPortPlan(dir, undefined)).rejects.toThrow(/api-port: not a port/)
  })
})
