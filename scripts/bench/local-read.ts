import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openDatabase } from '../../src/db/database.ts'
import { ContentStore, manifestChunkList } from '../../src/store/index.ts'
import { median } from '../../src/util/stats.ts'
import { makeDataset } from './cluster.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

/**
 * Section 2: reading a dataset through the store (getChunk for every chunk)
 * against reading the same files with fs.readFile, both warm, in alternating
 * order each round. Two shapes: large shards and ~115 KB training samples.
 */
export async function localReadBench(ctx: BenchContext): Promise<BenchResult[]> {
  const rounds = ctx.quick ? 2 : 7
  const dataDir = join(ctx.workDir, 'local-read-store')
  const db = await openDatabase(dataDir)
  const store = new ContentStore({ dataDir, db })
  await store.start()
  const results: BenchResult[] = []
  try {
    const shapes = [
      { label: 'shards', bytes: (ctx.quick ? 8 : 64) * 2 ** 20, files: 4 },
      { label: 'samples', bytes: (ctx.quick ? 64 : 512) * 115_000, files: ctx.quick ? 64 : 512 },
    ]
    for (const shape of shapes) {
      const dir = await makeDataset(join(ctx.workDir, `local-${shape.label}`), shape.bytes, shape.files)
      const infoAdded = await store.addPath(dir)
      const manifest = await store.getManifest(infoAdded.cid)
      if (manifest === undefined) throw new Error('manifest missing after add')
      const chunks = manifestChunkList(manifest)
      const paths = (await readdir(dir)).sort().map((name) => join(dir, name))
      const readStore = async (): Promise<number> => {
        let bytes = 0
        for (const chunk of chunks) bytes += (await store.getChunk(chunk))?.byteLength ?? 0
        return bytes
      }
      const readFs = async (): Promise<number> => {
        let bytes = 0
        for (const path of paths) bytes += (await readFile(path)).byteLength
        return bytes
      }
      await readStore()
      await readFs()
      const storeMs: number[] = []
      const fsMs: number[] = []
      for (let round = 0; round < rounds; round++) {
        for (const which of round % 2 === 0 ? ['store', 'fs'] : ['fs', 'store']) {
          const started = performance.now()
          const bytes = which === 'store' ? await readStore() : await readFs()
          if (bytes !== infoAdded.bytes) throw new Error(`${which} read ${bytes} of ${infoAdded.bytes} bytes`)
          ;(which === 'store' ? storeMs : fsMs).push(performance.now() - started)
        }
      }
      const ratio = median(fsMs) / median(storeMs)
      ctx.log(
        `local read ${shape.label}: store ${median(storeMs).toFixed(1)} ms, fs ${median(fsMs).toFixed(1)} ms`,
      )
      results.push(
        info(`local_read.${shape.label}.store`, infoAdded.bytes / 1e6 / (median(storeMs) / 1000), 'MB/s'),
        info(`local_read.${shape.label}.fs`, infoAdded.bytes / 1e6 / (median(fsMs) / 1000), 'MB/s'),
        checked(`local_read.${shape.label}.store_vs_fs`, ratio, 'x', '>=', 0.8, 'warm page cache'),
      )
    }
    return results
  } finally {
    await db.close()
  }
}
