import { readFileSync } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { z } from 'zod'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { exists } from '../util/fs.ts'
import { mixSeed, Xoshiro128 } from './prng.ts'

/**
 * Deterministic synthetic datasets shaped like real workloads. Recipes are
 * data (seeds/recipes.json); this module turns a recipe into files. The same
 * recipe and scale give byte-identical files on any machine, so every node
 * that generates a seed gets the same dataset CID.
 */

/** Bytes generated and written per step. A multiple of 4 so the word stream never restarts mid-file. */
const GENERATE_BLOCK_BYTES = 1024 * 1024

const contentSchema = z.enum(['random', 'jpeg-like', 'tokens-u16', 'text'])
const groupSchema = z
  .strictObject({
    /** file path; '{i}' or '{i:05}' is replaced by the file index (zero-padded to 5) */
    path: z.string().min(1),
    content: contentSchema,
    count: z.int().positive().optional(),
    /** exact size of every file in bytes */
    size: z.int().nonnegative().optional(),
    /** sizes drawn from a triangular distribution on mean +- spread bytes */
    sizeMean: z.int().positive().optional(),
    sizeSpread: z.int().nonnegative().optional(),
    /** what `scale` multiplies: the number of files, each file's size, or nothing */
    scaleBy: z.enum(['count', 'size', 'none']),
    /** tokens-u16 only: token ids are below this */
    vocab: z.int().min(2).max(65536).optional(),
  })
  .refine((g) => (g.size === undefined) !== (g.sizeMean === undefined), {
    message: 'give either size or sizeMean (with sizeSpread)',
  })
  .refine((g) => g.sizeMean === undefined || (g.sizeSpread ?? 0) < g.sizeMean, {
    message: 'sizeSpread must be below sizeMean',
  })

const recipeSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  description: z.string(),
  seed: z.int().nonnegative(),
  groups: z.array(groupSchema).min(1),
})

const recipeFileSchema = z.strictObject({ version: z.literal(1), recipes: z.array(recipeSchema) })

export type SeedContent = z.infer<typeof contentSchema>
export type SeedRecipe = z.infer<typeof recipeSchema>

/** One file a recipe will generate. */
export interface SeedFilePlan {
  path: string
  size: number
  content: SeedContent
  /** seed of this file's own PRNG stream */
  seed: number
  vocab: number
}

export interface GenerateOptions {
  /** multiplies each group's count or size, as its scaleBy says (default 1) */
  scale?: number
}

export const DEFAULT_TOKEN_VOCAB = 50257
export const RECIPES_PATH = new URL('../../seeds/recipes.json', import.meta.url)

let cachedRecipes: SeedRecipe[] | undefined

/** The recipes in seeds/recipes.json, validated. */
export function loadRecipes(): SeedRecipe[] {
  if (cachedRecipes === undefined) {
    const parsed = recipeFileSchema.safeParse(JSON.parse(readFileSync(RECIPES_PATH, 'utf8')))
    if (!parsed.success) {
      throw new BwnodeError(ERR.INVALID_RECIPE, `seeds/recipes.json: ${parsed.error.issues[0]?.message}`)
    }
    cachedRecipes = parsed.data.recipes
  }
  return cachedRecipes
}

export function getRecipe(name: string): SeedRecipe {
  const recipe = loadRecipes().find((r) => r.name === name)
  if (recipe === undefined) {
    const known = loadRecipes()
      .map((r) => r.name)
      .join(', ')
    throw new BwnodeError(ERR.UNKNOWN_SEED, `no seed recipe named '${name}' (known: ${known})`)
  }
  return recipe
}

/**
 * The files a recipe produces at a scale, without writing anything. File i of
 * a group has the same size and bytes at every scale, so a small scale is a
 * prefix of a large one.
 */
export function planSeed(name: string, options: GenerateOptions = {}): SeedFilePlan[] {
  const recipe = getRecipe(name)
  const scale = options.scale ?? 1
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new BwnodeError(ERR.INVALID_SCALE, `scale must be a positive number, got ${scale}`)
  }
  const plans: SeedFilePlan[] = []
  recipe.groups.forEach((group, groupIndex) => {
    const baseCount = group.count ?? 1
    const count = group.scaleBy === 'count' ? Math.max(1, Math.round(baseCount * scale)) : baseCount
    const sizes = new Xoshiro128(mixSeed(recipe.seed, groupIndex, 0x5123))
    for (let i = 0; i < count; i++) {
      let size: number
      if (group.size !== undefined) {
        size = group.size
      } else {
        // triangular on [mean - spread, mean + spread]: the sum of two uniforms
        const spread = group.sizeSpread ?? 0
        const u = sizes.nextFloat() + sizes.nextFloat()
        size = (group.sizeMean ?? 0) - spread + Math.floor(u * spread)
      }
      if (group.scaleBy === 'size') size = Math.round(size * scale)
      if (group.content === 'tokens-u16') size -= size % 2
      plans.push({
        path: expandPath(group.path, i),
        size,
        content: group.content,
        seed: mixSeed(recipe.seed, groupIndex, i),
        vocab: group.vocab ?? DEFAULT_TOKEN_VOCAB,
      })
    }
  })
  return plans
}

/**
 * Writes a recipe's files under <outDir>/<name> and returns that path.
 * Refuses if it exists (ERR_OUT_EXISTS); files are written under
 * '<path>.partial' and renamed at the end, so an interrupted run never
 * looks like a finished seed.
 */
export async function generateSeed(
  name: string,
  outDir: string,
  options: GenerateOptions = {},
): Promise<string> {
  assertLittleEndian()
  const plans = planSeed(name, options)
  const root = resolve(outDir, name)
  const partial = `${root}.partial`
  if (await exists(root)) throw new BwnodeError(ERR.OUT_EXISTS, `${root} already exists`)
  // a leftover .partial can only come from an interrupted generateSeed
  await rm(partial, { recursive: true, force: true })
  await mkdir(partial, { recursive: true })
  const block = new Uint32Array(GENERATE_BLOCK_BYTES / 4)
  try {
    for (const plan of plans) await writeSeedFile(join(partial, ...plan.path.split('/')), plan, block)
    await rename(partial, root)
  } catch (err) {
    await rm(partial, { recursive: true, force: true })
    throw err
  }
  return root
}

async function writeSeedFile(path: string, plan: SeedFilePlan, block: Uint32Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const prng = new Xoshiro128(plan.seed)
  const bytes = new Uint8Array(block.buffer)
  const handle = await open(path, 'wx')
  try {
    let written = 0
    while (written < plan.size) {
      const length = Math.min(bytes.byteLength, plan.size - written)
      // only the words this step needs: a 100 KB sample must not pay for a whole block
      fillContent(plan, prng, block.subarray(0, Math.ceil(length / 4)))
      if (plan.content === 'jpeg-like') stampJpegMarkers(bytes, written, length, plan.size)
      await handle.write(bytes, 0, length)
      written += length
    }
  } finally {
    await handle.close()
  }
}

/** Fills one block with the next words of the file's stream, shaped by its content kind. */
function fillContent(plan: SeedFilePlan, prng: Xoshiro128, block: Uint32Array): void {
  if (plan.content === 'tokens-u16') {
    fillTokens(prng, block, plan.vocab)
    return
  }
  prng.fill(block)
  if (plan.content === 'text') toText(new Uint8Array(block.buffer, block.byteOffset, block.byteLength))
}

/**
 * Two token ids per word. Each id is the smaller of two 16-bit halves' worth of
 * randomness scaled to the vocabulary, which favours low ids the way real
 * tokenisers favour frequent tokens.
 */
function fillTokens(prng: Xoshiro128, words: Uint32Array, vocab: number): void {
  prng.fill(words)
  const tokens = new Uint16Array(words.buffer, words.byteOffset, words.length * 2)
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? 0
    const other = Math.imul(word, 0x9e3779b1)
    const first = Math.min(word & 0xffff, word >>> 16)
    const second = Math.min(other & 0xffff, other >>> 16)
    // low * vocab < 2^32, so the unsigned shift is an exact floor(low * vocab / 65536)
    tokens[2 * i] = (first * vocab) >>> 16
    tokens[2 * i + 1] = (second * vocab) >>> 16
  }
}

const TEXT_ALPHABET = new TextEncoder().encode('etaoinshrdlucmfwypvbgkjqxz    \n.')

/** Maps random bytes to lowercase letters, spaces, newlines and full stops. */
function toText(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = TEXT_ALPHABET[(bytes[i] ?? 0) & 31] ?? 32
}

const JPEG_START = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00)
const JPEG_END = Uint8Array.of(0xff, 0xd9)

/** JPEG start and end markers on otherwise incompressible bytes, like a real compressed image. */
function stampJpegMarkers(bytes: Uint8Array, offset: number, length: number, fileSize: number): void {
  if (fileSize < JPEG_START.length + JPEG_END.length) return
  if (offset === 0) bytes.set(JPEG_START, 0)
  const endAt = fileSize - JPEG_END.length - offset
  for (let i = 0; i < JPEG_END.length; i++) {
    const at = endAt + i
    if (at >= 0 && at < length) bytes[at] = JPEG_END[i] ?? 0
  }
}

function expandPath(pattern: string, index: number): string {
  return pattern.replace(/\{i(?::(\d+))?\}/g, (_, width: string | undefined) =>
    String(index).padStart(width === undefined ? 0 : Number(width), '0'),
  )
}

/** Typed-array views use the machine's byte order; the seed bytes are defined as little-endian. */
function assertLittleEndian(): void {
  if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) {
    throw new BwnodeError(ERR.UNSUPPORTED_PLATFORM, 'seed generation needs a little-endian machine')
  }
}
