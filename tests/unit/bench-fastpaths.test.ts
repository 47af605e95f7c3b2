import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.ts'
import { DEFAULT_MIN_WINDOW } from '../../src/fetch/constants.ts'
import { ProviderState } from '../../src/fetch/provider.ts'
import type { ProviderSession } from '../../src/fetch/types.ts'
import { ChunkFiles } from '../../src/store/chunk-files.ts'
import { ContentStore, chunkCid } from '../../src/store/index.ts'

/** The fast paths the benchmark's profile led to: trusted chunk writes and window bounds. */

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const session: ProviderSession = {
  get: async () => new Uint8Array(),
  have: async () => ({ bitfield: new Uint8Array(), pricePerGiB: 0 }),
  manifest: async () => new Uint8Array(),
  close: () => {},
}

async function peer() {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('ContentStore.putVerifiedChunk', () => {
  it('stores a verified chunk so getChunk and hasChunk see it, and a rewrite is harmless', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-verified-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const db = await openDatabase(dir)
    cleanups.push(() => db.close())
    const store = new ContentStore({ dataDir: dir, db })
    await store.start()
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff)
    const cid = chunkCid(bytes)
    await store.putVerifiedChunk(cid, bytes)
    await store.putVerifiedChunk(cid, bytes)
    expect(await store.hasChunk(cid)).toBe(true)
    expect(await store.getChunk(cid)).toEqual(bytes)
    const onDisk = await readFile(new ChunkFiles(join(dir, 'chunks')).pathOf(cid))
    expect(new Uint8Array(onDisk)).toEqual(bytes)
  })
})

describe('ProviderState window bounds', () => {
  it('maxWindow 1 holds from the first request (no initial window above the cap)', async () => {
    const state = new ProviderState(await peer(), session, new Set([0]), { rttMs: 50 }, 1)
    expect(state.window).toBe(1)
    for (let i = 0; i < 5; i++) state.onComplete(1024 * 1024, i * 10, 1024 * 1024)
    expect(state.window).toBe(1)
  })

  it('never shrinks below the floor on a sub-millisecond link', async () => {
    const state = new ProviderState(await peer(), session, new Set([0]), { rttMs: 0.2 })
    for (let i = 0; i < 8; i++) state.onComplete(1024 * 1024, i * 5, 1024 * 1024)
    expect(state.window).toBe(DEFAULT_MIN_WINDOW)
    const custom = new ProviderState(await peer(), session, new Set([0]), { rttMs: 0.2 }, 64, 3)
    for (let i = 0; i < 8; i++) custom.onComplete(1024 * 1024, i * 5, 1024 * 1024)
    expect(custom.window).toBe(3)
  })
})
