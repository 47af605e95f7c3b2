import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MICROCREDITS_PER_CREDIT } from '../../src/ledger/constants.ts'
import { creditsForBytes } from '../../src/ledger/credits.ts'
import { encodeVoucher, newChannelId, signVoucher, type VoucherFields } from '../../src/ledger/voucher.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { ChunkSession } from '../../src/protocols/chunk/client.ts'
import { parseChunkCid, parseDatasetCid } from '../../src/store/cid.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { addOnAll, randomDataset, type Swarm, settleTransfer, startSwarm } from '../helpers/swarm.ts'

const CHUNK = 64 * 1024
/** Provider prices in credits per GiB: different, so a mix-up between peers shows. */
const PRICES = [3, 5, 7]
/** The strict provider's payment threshold: four chunks unpaid, then it refuses. */
const STRICT_THRESHOLD = 4 * CHUNK

function micro(credits: number): number {
  return Math.round(credits * MICROCREDITS_PER_CREDIT)
}

function totalBalance(nodes: Bwnode[]): number {
  return nodes.reduce((sum, n) => sum + n.ledger.balance, 0)
}

/**
 * Five+ real nodes in this process: node 0 bootstraps, nodes 1-3 sell at
 * different prices, node 4 buys, node 5 is strict about payment. Credits move
 * only by vouchers on the chunk stream, and must add up across the swarm.
 */
describe('credits across an in-process swarm', () => {
  let swarm: Swarm
  let work: string
  let sellers: Bwnode[]
  let buyer: Bwnode
  let strict: Bwnode
  let grants: number

  beforeAll(async () => {
    work = await tempDir('bwnode-credits-')
    swarm = await startSwarm(6, (i) => {
      if (i >= 1 && i <= 3) return { offer: { uplinkMbps: 16, pricePerGiB: PRICES[i - 1]! } }
      if (i === 5) {
        return {
          offer: { pricePerGiB: 5 },
          ledger: { paymentThresholdBytes: STRICT_THRESHOLD, disconnectThresholdBytes: 3 * STRICT_THRESHOLD },
        }
      }
      return {}
    })
    sellers = [swarm.nodes[1]!, swarm.nodes[2]!, swarm.nodes[3]!]
    buyer = swarm.nodes[4]!
    strict = swarm.nodes[5]!
    grants = swarm.nodes.reduce((sum, n) => sum + n.ledger.grant, 0)
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('pays each provider exactly its price for the bytes it served; credits are conserved', async () => {
    const source = await randomDataset(work, 'paid', 4, 512 * 1024)
    const info = await addOnAll(sellers, source, { chunkSize: CHUNK })
    const spentBefore = buyer.ledger.spent
    const done = await settleTransfer(buyer, buyer.datasets.startFetch(info.cid).id)
    expect(done.error).toBeNull()
    const result = done.result!
    const served = result.providers.filter((p) => p.bytes > 0)
    expect(served.length).toBeGreaterThan(1)

    // Vouchers travel behind the chunks: wait until every provider holds the last one. A provider
    // is paid for every verified chunk it delivered, the endgame's losing copies too.
    const expected = sellers.map((seller, i) => {
      const report = result.providers.find((p) => p.peerId === seller.peerId.toString())
      const bytes = (report?.bytes ?? 0) + (report?.duplicateBytes ?? 0)
      return { seller, bytes, credits: creditsForBytes(bytes, micro(PRICES[i]!)) }
    })
    const sumExpected = expected.reduce((sum, e) => sum + e.credits, 0)
    expect(sumExpected).toBeGreaterThan(0)
    await waitFor(
      async () => {
        if (expected.every(({ seller, credits }) => seller.ledger.earned === credits)) return true
        // the last miss is what a timeout reports
        const figures = expected.map(({ seller, credits }) => `${seller.ledger.earned}/${credits}`)
        throw new Error(`earned/expected microcredits ${figures.join(', ')}`)
      },
      { what: 'every provider credited', timeoutMs: 10_000, intervalMs: 20 },
    )
    for (const { seller, bytes, credits } of expected) {
      const fromBuyer = seller.ledger.summary().peers.find((p) => p.peerId === buyer.peerId.toString())
      const toSeller = buyer.ledger.summary().peers.find((p) => p.peerId === seller.peerId.toString())
      if (bytes === 0) {
        expect(fromBuyer?.earned ?? 0).toBe(0)
        continue
      }
      expect(fromBuyer?.paidBytes).toBe(bytes)
      expect(fromBuyer?.earned).toBe(credits)
      expect(toSeller?.boughtBytes).toBe(bytes)
      expect(toSeller?.spent).toBe(credits)
    }
    expect(buyer.ledger.spent - spentBefore).toBe(sumExpected)
    // Conservation: what was earned anywhere was spent somewhere; balances still sum to the grants.
    const earnedAll = swarm.nodes.reduce((sum, n) => sum + n.ledger.earned, 0)
    const spentAll = swarm.nodes.reduce((sum, n) => sum + n.ledger.spent, 0)
    expect(earnedAll).toBe(spentAll)
    expect(totalBalance(swarm.nodes)).toBe(grants)
    for (const node of swarm.nodes) expect((await node.ledger.verifyAll()).ok).toBe(true)
  })

  it('cuts off a peer that never pays at the payment threshold', async () => {
    const source = await randomDataset(work, 'unpaid', 1, 16 * CHUNK)
    const info = await strict.datasets.add(source, { chunkSize: CHUNK })
    const manifest = (await strict.store.getManifest(info.cid))!
    const chunks = manifest.files[0]!.chunks.map((c) => parseChunkCid(c))
    const freeloader = swarm.nodes[0]!
    // A client without makeVoucher: it takes chunks and never sends a voucher.
    const session = await ChunkSession.open(freeloader.libp2p, strict.peerId)
    let received = 0
    let refusal: { code?: string } | undefined
    for (const cid of chunks) {
      try {
        received += (await session.get(cid)).byteLength
      } catch (err) {
        refusal = err as { code?: string }
        break
      }
    }
    await session.close().catch(() => {})
    expect(refusal?.code).toBe('ERR_PAYMENT_REQUIRED')
    expect(received).toBeLessThanOrEqual(STRICT_THRESHOLD)
    expect(received).toBeGreaterThan(STRICT_THRESHOLD - CHUNK)
    const view = strict.ledger.summary().peers.find((p) => p.peerId === freeloader.peerId.toString())
    expect(view?.unpaidBytes).toBe(received)
    expect(view?.earned).toBe(0)

    // Asking on regardless: unpaid plus refused bytes pass the disconnect threshold (768 KiB),
    // which takes 9 refused 64 KiB requests in all, one of them above.
    const again = await ChunkSession.open(freeloader.libp2p, strict.peerId)
    const codes: string[] = []
    for (let i = 0; i < 12; i++) {
      try {
        await again.get(chunks[(i + 5) % chunks.length]!)
        codes.push('served')
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'none'
        codes.push(code)
        if (code === 'ERR_PAYMENT_DISCONNECT' || again.closed) break
      }
    }
    await again.close().catch(() => {})
    expect(codes).toEqual([...Array(7).fill('ERR_PAYMENT_REQUIRED'), 'ERR_PAYMENT_DISCONNECT'])
  })

  it('rejects forged vouchers and never credits them', async () => {
    const seller = sellers[0]!
    const forger = swarm.nodes[0]!
    const price = micro(PRICES[0]!)
    const fields = (payer: string, payee: string): VoucherFields => ({
      payer,
      payee,
      channelId: newChannelId(),
      sequence: 1,
      cumulativeBytes: 10 * 1024 * 1024,
      cumulativeCredits: creditsForBytes(10 * 1024 * 1024, price),
      pricePerGiB: price,
      timeMs: Date.now(),
    })
    const stranger = await generateKeyPair('Ed25519')
    const strangerId = peerIdFromPrivateKey(stranger).toString()
    // The forger's own voucher to the seller, one signature byte flipped after signing.
    const tampered = encodeVoucher(
      await signVoucher(forger.privateKey, fields(forger.peerId.toString(), seller.peerId.toString())),
    )
    tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 0x01
    const attempts: Record<string, Uint8Array> = {
      // Signed by another key, claiming to be from the buyer.
      'other key': encodeVoucher({
        ...fields(buyer.peerId.toString(), seller.peerId.toString()),
        signature: (await signVoucher(stranger, fields(strangerId, seller.peerId.toString()))).signature,
      }),
      // A stranger's valid voucher, replayed by the forger as its own.
      'another payer': encodeVoucher(
        await signVoucher(stranger, fields(strangerId, seller.peerId.toString())),
      ),
      // The forger's honest signature, but paying someone else.
      'wrong payee': encodeVoucher(
        await signVoucher(forger.privateKey, fields(forger.peerId.toString(), buyer.peerId.toString())),
      ),
      tampered,
    }

    const earnedBefore = seller.ledger.earned
    const refusedBefore = await refusedPayments(seller)
    const session = await ChunkSession.open(forger.libp2p, seller.peerId)
    const outcomes: Record<string, string> = {}
    for (const [name, voucher] of Object.entries(attempts)) {
      try {
        await session.pay(voucher)
        outcomes[name] = 'accepted'
      } catch (err) {
        outcomes[name] = (err as { code?: string }).code ?? 'unknown'
      }
    }
    await session.close().catch(() => {})
    for (const [name, outcome] of Object.entries(outcomes)) {
      expect(outcome, name).not.toBe('accepted')
      expect(outcome, name).toMatch(/^ERR_(BAD_)?VOUCHER/)
    }
    expect(seller.ledger.earned).toBe(earnedBefore)
    const view = seller.ledger.summary().peers.find((p) => p.peerId === forger.peerId.toString())
    expect(view?.earned ?? 0).toBe(0)
    expect(view?.rejected).toBe(Object.keys(attempts).length)
    expect((await refusedPayments(seller)) - refusedBefore).toBe(Object.keys(attempts).length)
    expect((await seller.ledger.verifyAll()).ok).toBe(true)
  })

  it('refuses up front to fetch what the balance cannot pay for', async () => {
    const source = await randomDataset(work, 'dear', 2, 512 * 1024)
    const info = await addOnAll([sellers[2]!], source, { chunkSize: CHUNK })
    // 1 MiB at 7 credits/GiB costs about 0.0068 credits; the grant is a thousandth of a credit.
    const poor = await swarm.add({ ledger: { grantCredits: 0.001 } })
    expect(poor.ledger.canAfford(info.bytes, micro(PRICES[2]!))).toBe(false)
    const done = await settleTransfer(poor, poor.datasets.startFetch(info.cid).id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('ERR_INSUFFICIENT_CREDITS')
    expect(poor.ledger.spent).toBe(0)
    expect(await poor.store.missingChunks(parseDatasetCid(info.cid))).toHaveLength(info.chunks)
  })
})

/** bwnode_refused_payments_total over every reason. */
async function refusedPayments(node: Bwnode): Promise<number> {
  return (await node.metrics.refusedPayments.get()).values.reduce((sum, v) => sum + v.value, 0)
}
