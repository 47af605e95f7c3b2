import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.ts'
import { BwnodeError } from '../../src/errors/index.ts'
import { ContentStore } from '../../src/store/index.ts'
import { mixSeed, Xoshiro128 } from '../../src/store/prng.ts'
import { generateSeed, loadRecipes, planSeed } from '../../src/store/seed.ts'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bwnode-seeds-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function treeHashes(root: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) Object.assign(out, await treeHashes(root, rel))
    else {
      out[rel] = createHash('sha256')
        .update(await readFile(join(root, rel)))
        .digest('hex')
    }
  }
  return out
}

async function datasetCidOf(path: string): Promise<string> {
  const dataDir = await tempDir()
  const db = await openDatabase(dataDir)
  try {
    return (await new ContentStore({ dataDir, db }).addPath(path)).cid
  } finally {
    await db.close()
  }
}

describe('PRNG', () => {
  it('xoshiro128** matches the reference output for state [1, 2, 3, 4]', () => {
    const prng = Xoshiro128.fromState([1, 2, 3, 4])
    expect(Array.from({ length: 6 }, () => prng.next())).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492,
    ])
  })

  it('fill() continues the same stream as next()', () => {
    const a = new Xoshiro128(42)
    const b = new Xoshiro128(42)
    const words = new Uint32Array(5)
    a.fill(words.subarray(0, 2))
    a.fill(words.subarray(2))
    expect([...words]).toEqual(Array.from({ length: 5 }, () => b.next()))
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1))
  })
})

describe('seed recipes', () => {
  it('defines samples, shards, tokens and tiny in seeds/recipes.json', () => {
    const names = loadRecipes().map((r) => r.name)
    expect(names).toEqual(expect.arrayContaining(['samples', 'shards', 'tokens', 'tiny']))
    const tinyBytes = planSeed('tiny').reduce((sum, f) => sum + f.size, 0)
    expect(tinyBytes).toBeGreaterThan(0)
    expect(tinyBytes).toBeLessThan(1024 * 1024)
  })

  it('samples vary in size around 115 KB, and a small scale is a prefix of a larger one', () => {
    const full = planSeed('samples')
    expect(full).toHaveLength(2048)
    const sizes = full.map((f) => f.size)
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length
    expect(Math.abs(mean - 115_000)).toBeLessThan(2_000)
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(70_000)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(160_000)
    expect(new Set(sizes).size).toBeGreaterThan(1000)
    const small = planSeed('samples', { scale: 0.01 })
    expect(small).toHaveLength(20)
    expect(small).toEqual(full.slice(0, 20))
  })

  it('scales shards by size and rejects a bad scale or name', () => {
    const shards = planSeed('shards', { scale: 1 / 1024 })
    expect(shards.map((f) => f.size)).toEqual([131072, 131072, 131072, 131072])
    expect(planSeed('tokens', { scale: 0.33 })[0]!.size % 2).toBe(0)
    expect(() => planSeed('shards', { scale: 0 })).toThrow(BwnodeError)
    expect(() => planSeed('shards', { scale: Number.NaN })).toThrow(BwnodeError)
    expect(() => planSeed('nope')).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_SEED' }))
  })
})

describe('generateSeed', () => {
  it('writes the planned files and the same bytes in two directories (same dataset CID)', async () => {
    const first = await generateSeed('tiny', await tempDir())
    const second = await generateSeed('tiny', await tempDir())
    const hashes = await treeHashes(first)
    expect(await treeHashes(second)).toEqual(hashes)
    for (const plan of planSeed('tiny')) {
      expect((await stat(join(first, plan.path))).size).toBe(plan.size)
    }
    expect(Object.keys(hashes).sort()).toEqual(
      planSeed('tiny')
        .map((p) => p.path)
        .sort(),
    )
    const cid = await datasetCidOf(first)
    expect(await datasetCidOf(second)).toBe(cid)
    // Pinned: a change here changes every tiny dataset CID in the network (format, PRNG or recipe).
    expect(cid).toBe('bagaaieravkviipczldvnnfgfm2wculy6k4b47re7t52ftoz6hrqlcbtm4zqa')
  })

  it('shapes content: JPEG markers on samples, token ids below the vocabulary, text is printable', async () => {
    const root = await generateSeed('tiny', await tempDir())
    const jpeg = await readFile(join(root, 'data/sample-00.jpg'))
    expect([...jpeg.subarray(0, 4)]).toEqual([0xff, 0xd8, 0xff, 0xe0])
    expect([...jpeg.subarray(-2)]).toEqual([0xff, 0xd9])
    const tokenBytes = await readFile(join(root, 'tokens.u16'))
    const tokens = new Uint16Array(tokenBytes.buffer, tokenBytes.byteOffset, tokenBytes.byteLength / 2)
    let low = 0
    for (const token of tokens) {
      expect(token).toBeLessThan(50257)
      if (token < 50257 / 2) low++
    }
    // skewed towards low ids: the smaller of two uniforms is below the middle 3/4 of the time
    expect(low / tokens.length).toBeGreaterThan(0.7)
    const text = await readFile(join(root, 'README.txt'), 'latin1')
    expect(text).toMatch(/^[a-z .\n]+$/)
  })

  it('refuses an existing output and replaces a stale .partial from an interrupted run', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'tiny.partial', 'junk'), { recursive: true })
    await writeFile(join(dir, 'tiny.partial', 'junk', 'x'), 'left over')
    const root = await generateSeed('tiny', dir, { scale: 0.5 })
    expect(await readdir(dir)).toEqual(['tiny'])
    await expect(stat(join(root, 'junk'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(generateSeed('tiny', dir)).rejects.toMatchObject({ code: 'ERR_OUT_EXISTS' })
  })

  it('generates a scaled-down samples set with the planned sizes', async () => {
    const root = await generateSeed('samples', await tempDir(), { scale: 0.02 })
    const plans = planSeed('samples', { scale: 0.02 })
    const names = await readdir(join(root, 'train'))
    expect(names).toHaveLength(plans.length)
    expect(names[0]).toBe('000000.jpg')
    for (const plan of plans) expect((await stat(join(root, plan.path))).size).toBe(plan.size)
  })
})
