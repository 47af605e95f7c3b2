import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { Fetcher } from '../../src/fetch/fetcher.ts'
import type { FetchEnvironment, ProviderSession } from '../../src/fetch/types.ts'
import { ContentStore } from '../../src/store/index.ts'
import { Xoshiro128 } from '../../src/store/prng.ts'

const CHUNK = 64 * 1024
const CHUNKS = 8

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function openStore(): Promise<{ store: ContentStore; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bwnode-dup-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const db: Database = await openDatabase(dir)
  cleanups.push(() => db.close())
  const store = new ContentStore({ dataDir: dir, db, chunkSize: CHUNK })
  await store.start()
  return { store, dir }
}

async function peer(): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/**
 * A provider's session over a real store. `delayMs(n)` is how long its n-th get takes; it ignores
 * cancellation (the chunk was already on the wire), and close waits for what is still coming.
 */
function sessionOver(source: ContentStore, delayMs: (n: number) => number) {
  let gets = 0
  const pending = new Set<Promise<unknown>>()
  const served = { bytes: 0 }
  const session: ProviderSession = {
    get: (cid: CID) => {
      const n = gets++
      const work = (async () => {
        await new Promise((r) => setTimeout(r, delayMs(n)))
        const bytes = (await source.getChunk(cid))!
        served.bytes += bytes.byteLength
        return bytes
      })()
      pending.add(work)
      void work.finally(() => pending.delete(work))
      return work
    },
    have: async (cid: CID) => ({ bitfield: await source.haveMap(cid), pricePerGiB: 0 }),
    manifest: async (cid: CID) => (await source.getManifestBytes(cid))!,
    close: async () => {
      await Promise.allSettled([...pending])
    },
  }
  return { session, served }
}

describe('endgame duplicates in the fetch result', () => {
  it('reports the verified copies a provider delivered after another won, apart from the bytes stored', async () => {
    const source = await openStore()
    const words = new Uint32Array((CHUNKS * CHUNK) / 4)
    new Xoshiro128(7).fill(words)
    const file = join(source.dir, 'data.bin')
    await writeFile(file, new Uint8Array(words.buffer))
    const info = await source.store.addPath(file)
    const target = await openStore()

    const fast = await peer()
    const slow = await peer()
    // The slow provider answers its first request at once (so it has a rate), then stalls: the
    // fast one, idle at the tail, races its outstanding chunks and wins every race.
    const sessions = new Map([
      [fast.toString(), sessionOver(source.store, () => 5)],
      [slow.toString(), sessionOver(source.store, (n) => (n === 0 ? 5 : 800))],
    ])
    const env: FetchEnvironment = {
      self: await peer(),
      async *findProviders() {
        yield fast
        yield slow
      },
      openSession: async (p) => sessions.get(p.toString())!.session,
      hint: async () => ({ rttMs: 1, offeredBytesPerSec: 50e6 }),
    }
    const result = await new Fetcher(target.store, env).fetch(info.cid as unknown as CID, {
      discoveryTimeoutMs: 2_000,
    })

    const reportOf = (p: PeerId) => result.providers.find((r) => r.peerId === p.toString())!
    const slowServed = sessions.get(slow.toString())!.served.bytes
    const fastServed = sessions.get(fast.toString())!.served.bytes
    expect(reportOf(slow).duplicateBytes).toBeGreaterThan(0)
    // every byte a provider served is in its report: stored or duplicate
    expect(reportOf(slow).bytes + reportOf(slow).duplicateBytes).toBe(slowServed)
    expect(reportOf(fast).bytes + reportOf(fast).duplicateBytes).toBe(fastServed)
    expect(reportOf(slow).bytes + reportOf(fast).bytes).toBe(CHUNKS * CHUNK)
    const verified = await target.store.verify(info.cid)
    expect(verified).toMatchObject({ checked: CHUNKS, missing: [], corrupt: [] })
  })
})
