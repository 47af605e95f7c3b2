import { mkdtemp, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { exists } from '../../src/util/fs.ts'
import { seededRandom } from '../../src/util/random.ts'
import { median } from '../../src/util/stats.ts'

describe('shared helpers', () => {
  it('median: the middle value, the mean of the middle two, NaN for none; the input is left as it is', () => {
    const values = [5, 1, 3]
    expect(median(values)).toBe(3)
    expect(values).toEqual([5, 1, 3])
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNaN()
  })

  it('seededRandom: one seed, one stream, in [0, 1)', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const xs = Array.from({ length: 100 }, () => a())
    expect(xs).toEqual(Array.from({ length: 100 }, () => b()))
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(seededRandom(1)()).not.toBe(seededRandom(2)())
  })

  it('exists: true for a file or a dangling symlink, false for nothing there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-util-'))
    expect(await exists(dir)).toBe(true)
    expect(await exists(join(dir, 'missing'))).toBe(false)
    await symlink(join(dir, 'missing'), join(dir, 'link'))
    expect(await exists(join(dir, 'link'))).toBe(true)
  })
})
