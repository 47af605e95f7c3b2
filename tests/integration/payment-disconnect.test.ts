import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MICROCREDITS_PER_CREDIT } from '../../src/ledger/constants.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { ChunkSession } from '../../src/protocols/chunk/client.ts'
import { parseChunkCid } from '../../src/store/cid.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { randomDataset, type Swarm, settleTransfer, startSwarm } from '../helpers/swarm.ts'

const CHUNK = 64 * 1024
/** Above what a paying client has in flight (64 requests of one chunk), or it would stall. */
const PAYMENT_THRESHOLD = 8 * 1024 * 1024
const DISCONNECT_THRESHOLD = 2 * PAYMENT_THRESHOLD
const PRICE_CREDITS_PER_GIB = 5
/** How long a disconnect may take once the peer has its answer, ms. */
const HANG_UP_BOUND_MS = 3_000

function connected(a: Bwnode, b: Bwnode): boolean {
  return a.libp2p.getConnections(b.peerId).length > 0 || b.libp2p.getConnections(a.peerId).length > 0
}

async function waitDisconnected(a: Bwnode, b: Bwnode): Promise<void> {
  await waitFor(async () => (connected(a, b) ? undefined : true), {
    what: `${a.peerId} and ${b.peerId} disconnected`,
    timeoutMs: HANG_UP_BOUND_MS,
    intervalMs: 20,
  })
}

/** GETs `chunks` round and round on one session without paying; the codes, until it ends. */
async function fetchWithoutPaying(client: Bwnode, server: PeerId, chunks: CID[], max: number) {
  const session = await ChunkSession.open(client.libp2p, server)
  const outcomes: string[] = []
  for (let i = 0; i < max && !session.closed; i++) {
    try {
      await session.get(chunks[i % chunks.length]!)
      outcomes.push('served')
    } catch (err) {
      outcomes.push((err as { code?: string }).code ?? 'unknown')
    }
  }
  await session.close().catch(() => {})
  return outcomes
}

function count(outcomes: string[], what: string): number {
  return outcomes.filter((o) => o === what).length
}

/**
 * A provider with small thresholds (8 MiB payment, 16 MiB disconnect) and real nodes around it:
 * a freeloader that keeps asking loses its connection, not only its stream, and is refused the
 * same way when it dials back while it owes; once it pays it is served again. A client that
 * pays as it goes takes more than the disconnect threshold and keeps its connection.
 */
describe('ERR_PAYMENT_DISCONNECT closes the connection', () => {
  let swarm: Swarm
  let work: string
  let strict: Bwnode
  let chunks: CID[]
  let datasetCid: string

  beforeAll(async () => {
    work = await tempDir('bwnode-disconnect-')
    swarm = await startSwarm(2, (i) =>
      i === 1
        ? {
            offer: { pricePerGiB: PRICE_CREDITS_PER_GIB },
            ledger: {
              paymentThresholdBytes: PAYMENT_THRESHOLD,
              disconnectThresholdBytes: DISCONNECT_THRESHOLD,
            },
          }
        : {},
    )
    strict = swarm.nodes[1]!
    // 20 MiB: more than the disconnect threshold, so an honest fetch crosses it in paid bytes.
    const source = await randomDataset(work, 'data', 5, 4 * 1024 * 1024)
    const info = await strict.datasets.add(source, { chunkSize: CHUNK })
    datasetCid = info.cid
    const manifest = (await strict.store.getManifest(info.cid))!
    chunks = manifest.files.flatMap((f) => f.chunks).map((c) => parseChunkCid(c))
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('answers ERR_PAYMENT_DISCONNECT, then drops every connection to a peer that never pays', async () => {
    const freeloader = await swarm.add()
    const outcomes = await fetchWithoutPaying(freeloader, strict.peerId, chunks, 1_000)
    // Served up to the payment threshold, refused until unpaid plus refused bytes pass the
    // disconnect threshold, then the disconnect code as the answer to the last request.
    expect(count(outcomes, 'served')).toBe(PAYMENT_THRESHOLD / CHUNK)
    expect(count(outcomes, 'ERR_PAYMENT_REQUIRED')).toBe((DISCONNECT_THRESHOLD - PAYMENT_THRESHOLD) / CHUNK)
    expect(outcomes.at(-1)).toBe('ERR_PAYMENT_DISCONNECT')
    await waitDisconnected(freeloader, strict)
  })

  it('refuses and drops a peer that dials back while it owes, and serves it again once it pays', async () => {
    const freeloader = await swarm.add()
    await fetchWithoutPaying(freeloader, strict.peerId, chunks, 1_000)
    await waitDisconnected(freeloader, strict)

    // Dialling back does not clear the debt: the first request it cannot afford cuts it off again.
    expect(await fetchWithoutPaying(freeloader, strict.peerId, chunks, 5)).toEqual(['ERR_PAYMENT_DISCONNECT'])
    await waitDisconnected(freeloader, strict)

    // Paying is allowed on a new connection, and a voucher for the debt ends the refusal.
    const owed = strict.ledger.unpaidBytes(freeloader.peerId)
    expect(owed).toBe(PAYMENT_THRESHOLD)
    const channel = await freeloader.ledger.openChannel(
      strict.peerId,
      PRICE_CREDITS_PER_GIB * MICROCREDITS_PER_CREDIT,
    )
    const session = await ChunkSession.open(freeloader.libp2p, strict.peerId)
    await session.pay(await channel.pay(owed))
    expect((await session.get(chunks[0]!)).byteLength).toBe(CHUNK)
    await session.close()
    expect(strict.ledger.unpaidBytes(freeloader.peerId)).toBe(CHUNK)
    expect(connected(freeloader, strict)).toBe(true)
  })

  it('never disconnects a client that pays as it goes, past the disconnect threshold', async () => {
    const buyer = await swarm.add()
    const drops: string[] = []
    buyer.libp2p.addEventListener('peer:disconnect', (evt) => drops.push(evt.detail.toString()))
    const done = await settleTransfer(buyer, buyer.datasets.startFetch(datasetCid).id)
    expect(done.error).toBeNull()
    expect(done.result?.providers.find((p) => p.peerId === strict.peerId.toString())?.bytes).toBe(
      chunks.length * CHUNK,
    )
    expect(chunks.length * CHUNK).toBeGreaterThan(DISCONNECT_THRESHOLD)
    expect(drops).not.toContain(strict.peerId.toString())
    expect(connected(buyer, strict)).toBe(true)
    // Vouchers follow the chunks: the provider ends up paid for every chunk it served (the
    // manifest stays as debt under the payment threshold; the client pays for chunks only).
    const paid = () =>
      strict.ledger.summary().peers.find((p) => p.peerId === buyer.peerId.toString())?.paidBytes
    await waitFor(async () => (paid() === chunks.length * CHUNK ? true : undefined), {
      what: 'every chunk paid for',
      timeoutMs: 10_000,
      intervalMs: 20,
    })
  })
})
