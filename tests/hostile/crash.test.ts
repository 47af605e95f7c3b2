import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.ts'
import { Ledger } from '../../src/ledger/ledger.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { loadOrCreateIdentity } from '../../src/node/identity.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { api, type DaemonProcess, readApiFile, startDaemonProcess, tempDir } from '../helpers/daemon.ts'
import { SOAK, waitForAnnounced } from '../helpers/hostile.ts'
import { dialAddr, randomDataset, settleTransfer, startNode, stopQuietly } from '../helpers/swarm.ts'

/**
 * Crashes: a daemon process is killed with SIGKILL at a random moment while it adds a dataset,
 * fetches one from a paid peer (it signs vouchers: spending), or serves one to that peer (it
 * accepts vouchers: earning). After every kill its data dir is opened again and checked:
 *   - the store: every dataset re-hashes with no corrupt chunk, and one marked complete has
 *     no chunk missing (ContentStore.verify);
 *   - the ledger: every stored voucher verifies and the balances equal their sums
 *     (Ledger.verifyAll), and balance = grant + earned - spent;
 *   - totals across the pair: neither side has earned more from the other than the other
 *     has signed away (a crash may lose a voucher in flight, never invent one).
 * Then the daemon is restarted for the next cycle.
 */
const CYCLES = SOAK ? 100 : 20
const CHUNK = 64 * 1024
const PRICE_PER_GIB = 200
const PEER_DATASETS = 4
const UPLINK_MBPS = 24

type Phase = 'add' | 'fetch' | 'settle'

function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

describe('crash: SIGKILL during add, fetch and settlement', () => {
  const dirs: string[] = []
  let peer: Bwnode | undefined
  let victim: DaemonProcess | undefined

  afterAll(async () => {
    await victim?.stop('SIGKILL')
    if (peer !== undefined) await stopQuietly(peer)
    await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it(
    `${CYCLES} kills leave a store and a ledger that verify, with totals that add up`,
    async () => {
      const seed = Number(process.env.BWNODE_CRASH_SEED ?? 424242)
      const random = prng(seed)
      const work = await tempDir('bwnode-crash-work-')
      const victimDir = await tempDir('bwnode-crash-victim-')
      dirs.push(work, victimDir)
      const priced = {
        offer: { uplinkMbps: UPLINK_MBPS, pricePerGiB: PRICE_PER_GIB },
        ledger: { paymentThresholdBytes: 8 * 1024 * 1024, disconnectThresholdBytes: 64 * 1024 * 1024 },
      }
      const peerDir = await tempDir('bwnode-crash-peer-')
      dirs.push(peerDir)
      peer = await startNode(peerDir, priced)
      const peerCids: string[] = []
      for (let i = 0; i < PEER_DATASETS; i++) {
        const source = await randomDataset(work, `peer-${i}`, 2, 512 * 1024 + i)
        peerCids.push((await peer.datasets.add(source, { chunkSize: CHUNK })).cid)
      }
      const victimConfig = join(work, 'victim.json')
      await writeFile(victimConfig, JSON.stringify({ ...priced, latency: { pingIntervalMs: 60_000 } }))
      const startVictim = () =>
        startDaemonProcess(['--config', victimConfig, '--bootstrap', dialAddr(peer!)], victimDir, 90_000)

      // The dataset the peer buys from the victim in 'settle' cycles.
      victim = await startVictim()
      let handle = await readApiFile(victimDir)
      const ownSource = await randomDataset(work, 'victim-own', 2, 512 * 1024)
      const own = await api<{ cid: string }>(handle, 'POST', '/api/datasets', {
        path: ownSource,
        chunkSize: CHUNK,
      })
      await waitForAnnounced(handle, own.cid, 'victim announcing its dataset')

      const counts: Record<Phase, number> = { add: 0, fetch: 0, settle: 0 }
      const checks = { datasets: 0, incomplete: 0, vouchers: 0 }
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        if (victim === undefined) {
          victim = await startVictim()
          handle = await readApiFile(victimDir)
        }
        const phase: Phase = (['add', 'fetch', 'settle'] as const)[cycle % 3] as Phase
        counts[phase]++
        const delayMs = Math.floor(random() * 900)
        let peerTransfer: string | undefined
        if (phase === 'add') {
          const source = await randomDataset(work, `add-${cycle}`, 2, 384 * 1024 + cycle)
          void api(handle, 'POST', '/api/datasets', { path: source, chunkSize: CHUNK }).catch(() => {})
        } else if (phase === 'fetch') {
          const cid = peerCids[cycle % peerCids.length] as string
          const held = await api<Array<{ cid: string; complete: boolean }>>(handle, 'GET', '/api/datasets')
          if (held.some((d) => d.cid === cid && d.complete))
            await api(handle, 'DELETE', `/api/datasets/${cid}`)
          void api(handle, 'POST', '/api/fetch', { cid, seed: false }).catch(() => {})
        } else {
          peerTransfer = peer.datasets.startFetch(own.cid, { seed: false }).id
        }
        await new Promise((r) => setTimeout(r, delayMs))
        await victim.stop('SIGKILL')
        victim = undefined

        if (peerTransfer !== undefined) {
          const settled = await settleTransfer(peer, peerTransfer, 90_000)
          if (settled.state === 'running') peer.datasets.cancel(peerTransfer)
          await peer.datasets.remove(own.cid).catch(() => {})
        }
        await peer.ledger.flush()
        const report = await checkDataDir(victimDir, peer)
        checks.datasets += report.datasets
        checks.incomplete += report.incomplete
        checks.vouchers += report.vouchers
      }
      console.log(
        `crash (seed ${seed}): ${CYCLES} SIGKILL cycles (add ${counts.add}, fetch ${counts.fetch}, settle ${counts.settle}); ` +
          `${checks.datasets} dataset verifications (${checks.incomplete} incomplete, resumable), ` +
          `${checks.vouchers} voucher checks, all consistent`,
      )
      expect(counts.add + counts.fetch + counts.settle).toBe(CYCLES)
      // a cycle restarts a daemon process and re-hashes its store: 3-6 s on a quiet 2-core machine,
      // more beside other test files; the limit guards against a hang, the checks are the test
    },
    CYCLES * 15_000,
  )
})

/** Opens a killed daemon's data dir in this process and checks store, ledger and totals. */
async function checkDataDir(
  dataDir: string,
  peer: Bwnode,
): Promise<{ datasets: number; incomplete: number; vouchers: number }> {
  const { privateKey } = await loadOrCreateIdentity(dataDir)
  const self = peerIdFromPrivateKey(privateKey)
  const db = await openDatabase(dataDir)
  try {
    const store = new ContentStore({ dataDir, db, chunkSize: CHUNK })
    await store.start()
    let incomplete = 0
    const datasets = await store.list()
    for (const dataset of datasets) {
      const report = await store.verify(dataset.cid)
      expect(report.corrupt, `corrupt chunks in ${dataset.cid}`).toEqual([])
      if (dataset.complete) expect(report.missing, `complete ${dataset.cid} misses chunks`).toEqual([])
      else incomplete++
    }

    const ledger = new Ledger({ db, self, privateKey })
    await ledger.open()
    try {
      const verified = await ledger.verifyAll()
      expect(verified.failures).toEqual([])
      expect(verified.ok).toBe(true)
      const mine = ledger.summary()
      expect(mine.balance).toBe(mine.grant + mine.earned - mine.spent)
      const theirs = peer.ledger.summary()
      const peerId = peer.peerId.toString()
      const mineWithPeer = mine.peers.find((p) => p.peerId === peerId)
      const theirsWithMe = theirs.peers.find((p) => p.peerId === self.toString())
      // Nobody has been credited with more than the other side signed away.
      expect(mineWithPeer?.earned ?? 0).toBeLessThanOrEqual(theirsWithMe?.spent ?? 0)
      expect(theirsWithMe?.earned ?? 0).toBeLessThanOrEqual(mineWithPeer?.spent ?? 0)
      return { datasets: datasets.length, incomplete, vouchers: verified.checked }
    } finally {
      await ledger.close()
    }
  } finally {
    await db.close()
  }
}
