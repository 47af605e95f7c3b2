import { afterEach, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { ServedByDataset } from '../../src/node/served.ts'
import { tempDir } from '../helpers/daemon.ts'

/** Per-dataset served accounting over a real LevelDB. */
describe('ServedByDataset', () => {
  const open: Database[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((db) => db.close()))
  })

  async function setup(dataDir: string, manifests: Array<{ cid: string; chunks: string[] }>) {
    const db = await openDatabase(dataDir)
    open.push(db)
    let reads = 0
    const attributed: Array<[string, number]> = []
    const served = new ServedByDataset({
      db,
      manifests: async () => {
        reads++
        return manifests
      },
      onAttributed: (dataset, bytes) => attributed.push([dataset, bytes]),
      reindexIntervalMs: 50,
    })
    await served.open()
    return { db, served, attributed, reads: () => reads }
  }

  it('attributes chunks to their dataset, once per index, and keeps totals across restarts', async () => {
    const dataDir = await tempDir()
    const manifests = [
      { cid: 'd1', chunks: ['a', 'b'] },
      { cid: 'd2', chunks: ['b', 'c'] },
    ]
    const first = await setup(dataDir, manifests)
    first.served.record('a', 100)
    first.served.record('c', 10)
    first.served.record('b', 7) // shared: counts for the first dataset indexed
    await first.served.settled()
    first.served.record('a', 100) // now in the index: no rebuild
    expect(first.reads()).toBe(1)
    expect(first.served.bytesFor('d1')).toBe(207)
    expect(first.served.bytesFor('d2')).toBe(10)
    expect(first.served.totals().get('d1')?.chunks).toBe(3)
    expect(first.attributed).toContainEqual(['d2', 10])

    // An unknown chunk is dropped, and a flood of them rebuilds the index at a limited rate.
    for (let i = 0; i < 50; i++) first.served.record(`unknown-${i}`, 1)
    await first.served.settled()
    expect(first.reads()).toBeLessThanOrEqual(3)
    expect([...first.served.totals().keys()].sort()).toEqual(['d1', 'd2'])

    await first.served.close()
    await first.db.close()
    open.pop()
    const second = await setup(dataDir, manifests)
    expect(second.served.bytesFor('d1')).toBe(207)
    expect(second.served.bytesFor('d2')).toBe(10)
    await second.served.close()
  })
})
