/**
 * Content store micro-benchmark: how much a store read costs over a plain file
 * read of the same bytes (warm page cache), plus import throughput. Prints
 * ratios measured side by side in one run.
 *
 *   node scripts/bench-store.ts [--rounds 7]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../src/db/database.ts'
import { ChunkFiles } from '../src/store/chunk-files.ts'
import { ContentStore, manifestChunkList, parseChunkCid } from '../src/store/index.ts'
import { Xoshiro128 } from '../src/store/prng.ts'
import { generateSeed } from '../src/store/seed.ts'
import { median } from '../src/util/stats.ts'

const roundsArg = process.argv.indexOf('--rounds')
const ROUNDS = roundsArg === -1 ? 7 : Number(process.argv[roundsArg + 1])

function shuffled<T>(items: T[], seed: number): T[] {
  const prng = new Xoshiro128(seed)
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.next() % (i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

async function timeReads(
  label: string,
  chunks: string[],
  store: ContentStore,
  files: ChunkFiles,
): Promise<void> {
  const paths = chunks.map((cid) => files.pathOf(parseChunkCid(cid)))
  let bytes = 0
  for (const path of paths) bytes += (await readFile(path)).byteLength // warm the page cache
  const storeTimes: number[] = []
  const fsTimes: number[] = []
  // The two reads of each chunk run back to back (alternating which goes first),
  // so load from other processes hits both sides alike.
  for (let round = 0; round < ROUNDS; round++) {
    let storeTotal = 0
    let fsTotal = 0
    for (const [index, cid] of chunks.entries()) {
      const path = paths[index] as string
      const storeFirst = (round + index) % 2 === 0
      for (const which of storeFirst ? ['store', 'fs'] : ['fs', 'store']) {
        const start = performance.now()
        if (which === 'store') await store.getChunk(cid)
        else await readFile(path)
        const elapsed = performance.now() - start
        if (which === 'store') storeTotal += elapsed
        else fsTotal += elapsed
      }
    }
    storeTimes.push(storeTotal)
    fsTimes.push(fsTotal)
  }
  const storeMs = median(storeTimes)
  const fsMs = median(fsTimes)
  console.log(
    `${label}: ${chunks.length} chunks, ${(bytes / chunks.length / 1024).toFixed(0)} KiB avg | ` +
      `store ${(bytes / 1e6 / (storeMs / 1000)).toFixed(0)} MB/s, ` +
      `${((storeMs * 1000) / chunks.length).toFixed(1)} us/read | ` +
      `fs.readFile ${(bytes / 1e6 / (fsMs / 1000)).toFixed(0)} MB/s | ratio store/fs ${(storeMs / fsMs).toFixed(2)}`,
  )
}

const dir = await mkdtemp(join(tmpdir(), 'bwnode-bench-store-'))
try {
  const shardsPath = await generateSeed('shards', join(dir, 'seeds'), { scale: 1 / 8 })
  const samplesPath = await generateSeed('samples', join(dir, 'seeds'), { scale: 0.25 })
  const dataDir = join(dir, 'data')
  const db = await openDatabase(dataDir)
  const store = new ContentStore({ dataDir, db })
  await store.start()
  const files = new ChunkFiles(join(dataDir, 'chunks'))

  for (const [label, path] of [
    ['shards (4 x 16 MiB)', shardsPath],
    ['samples (512 x ~115 KB)', samplesPath],
  ] as const) {
    const start = performance.now()
    const info = await store.addPath(path)
    const seconds = (performance.now() - start) / 1000
    console.log(`addPath ${label}: ${(info.bytes / 1e6 / seconds).toFixed(0)} MB/s`)
    const manifest = (await store.getManifest(info.cid))!
    await timeReads(`getChunk ${label}`, shuffled(manifestChunkList(manifest), 1), store, files)
  }
  await db.close()
} finally {
  await rm(dir, { recursive: true, force: true })
}
