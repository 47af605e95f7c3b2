import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.ts'
import {
  InsufficientCredits,
  type LedgerDb,
  type LedgerInit,
  PaymentRequired,
} from '../../src/ledger/index.ts'
import { crashAndRestart, creditView, startNode, stopNode, type TestNode } from '../helpers/ledger.ts'

const MiB = 2 ** 20
const PRICES = [250_000, 1_000_000, 3_000_000] // µcr per GiB
const OPTIONS: Partial<LedgerInit> = {
  grantCredits: 6_000, // µcr: about 6 MiB at 1 credit/GiB, so refusals happen
  paymentThresholdBytes: 4 * MiB, // one unpaid transfer can block the next
  disconnectThresholdBytes: 16 * MiB,
}

type Transfer = { kind: 'transfer'; payer: number; payee: number; bytes: number; price: number }
type Restart = { kind: 'restart'; node: number }
type Op = Transfer | Restart

function transferArb(nodes: number): fc.Arbitrary<Transfer> {
  return fc.record({
    kind: fc.constant('transfer' as const),
    payer: fc.nat({ max: nodes - 1 }),
    payee: fc.nat({ max: nodes - 1 }),
    bytes: fc.integer({ min: 1, max: 4 * MiB }),
    price: fc.constantFrom(...PRICES),
  })
}

function opsArb(nodes: number): fc.Arbitrary<Op[]> {
  const restart = fc.record({ kind: fc.constant('restart' as const), node: fc.nat({ max: nodes - 1 }) })
  return fc.array(fc.oneof({ weight: 6, arbitrary: transferArb(nodes) }, { weight: 1, arbitrary: restart }), {
    minLength: 1,
    maxLength: 30,
  })
}

/** 4 MiB at the top price costs more than the grant (refused-credits), leaving 4 MiB unpaid; one more byte passes the threshold (refused-serve). */
const REFUSAL_PATH: Op[] = [
  { kind: 'transfer', payer: 0, payee: 1, bytes: 4 * MiB, price: 3_000_000 },
  { kind: 'transfer', payer: 0, payee: 1, bytes: 1, price: 3_000_000 },
]

type Outcome = 'paid' | 'refused-serve' | 'refused-credits' | 'self'

/** Serve, pay and deliver one transfer, checking the payer's balance around the payment. */
async function transfer(nodes: TestNode[], op: Transfer): Promise<Outcome> {
  const payer = nodes[op.payer]!
  const payee = nodes[op.payee]!
  if (op.payer === op.payee) {
    await expect(payer.ledger.openChannel(payee.id, op.price)).rejects.toMatchObject({
      code: 'ERR_VOUCHER_SELF',
    })
    return 'self'
  }
  try {
    payee.ledger.chargeServe(payer.id, op.bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(PaymentRequired)
    return 'refused-serve'
  }
  const channel = await payer.ledger.openChannel(payee.id, op.price)
  const balance = payer.ledger.balance
  const cost = channel.quote(op.bytes)
  let voucher: Uint8Array
  try {
    voucher = await channel.pay(op.bytes)
  } catch (err) {
    if (!(err instanceof InsufficientCredits)) throw err
    expect(cost).toBeGreaterThan(balance)
    expect(payer.ledger.balance).toBe(balance)
    return 'refused-credits'
  }
  expect(cost).toBeLessThanOrEqual(balance)
  expect(payer.ledger.balance).toBe(balance - cost)
  const credited = await payee.ledger.acceptVoucher(payer.id, voucher, op.price)
  expect(credited.credits).toBe(cost)
  return 'paid'
}

function expectBooksBalance(nodes: TestNode[]): void {
  let earned = 0
  let spent = 0
  for (const node of nodes) {
    const s = node.ledger.summary()
    expect(s.balance).toBeGreaterThanOrEqual(0)
    expect(s.balance).toBe(s.grant + s.earned - s.spent)
    earned += s.earned
    spent += s.spent
    // What each node says it spent on a peer is what that peer says it earned from it.
    for (const peer of s.peers) {
      const other = nodes.find((n) => n.id === peer.peerId)!
      const mirror = other.ledger.summary().peers.find((p) => p.peerId === node.id)
      expect(mirror?.earned ?? 0).toBe(peer.spent)
      expect(mirror?.paidBytes ?? 0).toBe(peer.boughtBytes)
    }
  }
  expect(earned).toBe(spent)
}

describe('ledger properties', () => {
  it('conserves credits over random transfers among N ledgers, across restarts', async () => {
    const outcomes = new Map<Outcome, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(fc.constant(n), opsArb(n))),
        async ([n, ops]) => {
          const nodes = await Promise.all(Array.from({ length: n }, () => startNode(OPTIONS)))
          try {
            for (const op of ops) {
              if (op.kind === 'restart') {
                await crashAndRestart(nodes[op.node]!)
              } else {
                const outcome = await transfer(nodes, op)
                outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
              }
              expectBooksBalance(nodes)
            }
            const before = nodes.map((node) => creditView(node.ledger))
            for (const node of nodes) expect((await node.ledger.verifyAll()).ok).toBe(true)
            for (const node of nodes) await crashAndRestart(node)
            expect(nodes.map((node) => creditView(node.ledger))).toEqual(before)
            for (const node of nodes)
              expect(await node.ledger.verifyAll()).toMatchObject({ ok: true, failures: [] })
          } finally {
            await Promise.all(nodes.map(stopNode))
          }
        },
      ),
      {
        numRuns: 25,
        // Random runs reach a serve refusal only now and then (it needs an unpaid
        // transfer followed by another on the same pair), so one known path to each
        // branch runs first; the random runs then explore around it.
        examples: [[[2, REFUSAL_PATH]]],
      },
    )
    // The generator must actually reach every branch, or the property proves little.
    expect(outcomes.get('paid')).toBeGreaterThan(20)
    expect(outcomes.get('refused-credits')).toBeGreaterThan(0)
    expect(outcomes.get('refused-serve')).toBeGreaterThan(0)
  })

  it('never lets unpaid bytes pass the payment threshold, and refuses exactly when they would', async () => {
    const payment = 10_000
    const disconnect = 25_000
    const step = fc.oneof(
      fc.record({ kind: fc.constant('serve' as const), bytes: fc.integer({ min: 0, max: 6_000 }) }),
      fc.record({ kind: fc.constant('pay' as const), bytes: fc.integer({ min: 1, max: 12_000 }) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const options = { paymentThresholdBytes: payment, disconnectThresholdBytes: disconnect }
        const [client, server] = await Promise.all([startNode(options), startNode(options)])
        try {
          const channel = await client.ledger.openChannel(server.id, 1_000_000)
          let served = 0
          let paid = 0
          let refused = 0
          for (const s of steps) {
            if (s.kind === 'pay') {
              await server.ledger.acceptVoucher(client.id, await channel.pay(s.bytes), 1_000_000)
              paid += s.bytes
              refused = 0
            } else {
              const owed = served - paid
              const shouldRefuse = owed + s.bytes > payment
              let code: string | undefined
              try {
                server.ledger.chargeServe(client.id, s.bytes)
                served += s.bytes
              } catch (err) {
                code = (err as PaymentRequired).code
                refused += s.bytes
              }
              expect(code !== undefined).toBe(shouldRefuse)
              if (shouldRefuse) {
                const unpaid = Math.max(0, owed)
                expect(code).toBe(
                  unpaid + refused > disconnect ? 'ERR_PAYMENT_DISCONNECT' : 'ERR_PAYMENT_REQUIRED',
                )
              }
            }
            expect(server.ledger.unpaidBytes(client.id)).toBe(Math.max(0, served - paid))
            expect(server.ledger.unpaidBytes(client.id)).toBeLessThanOrEqual(payment)
          }
        } finally {
          await Promise.all([stopNode(client), stopNode(server)])
        }
      }),
      { numRuns: 25 },
    )
  })

  it('stays consistent when a node dies at any write, whether or not the write landed', async () => {
    /** Lets writes through until the countdown hits zero; then that write lands or not, and the "process" is dead. */
    function dyingDb(db: Database, plan: { countdown: number; lands: boolean; dead: boolean }): LedgerDb {
      return {
        sublevel: ((name: string) => {
          const root = db.sublevel(name)
          const batch = root.batch.bind(root) as (ops: unknown, options: unknown) => Promise<void>
          Object.assign(root, {
            batch: async (ops: unknown, options: unknown) => {
              if (plan.dead) throw new Error('dead')
              if (plan.countdown-- === 0) {
                plan.dead = true
                if (plan.lands) await batch(ops, options)
                throw new Error('dead')
              }
              return await batch(ops, options)
            },
          })
          return root
        }) as unknown as Database['sublevel'],
      }
    }
    const scenario = fc.record({
      victim: fc.nat({ max: 2 }),
      countdown: fc.nat({ max: 6 }),
      lands: fc.boolean(),
      ops: fc.array(transferArb(3), { minLength: 6, maxLength: 20 }),
    })
    let deaths = 0
    await fc.assert(
      fc.asyncProperty(scenario, async ({ victim, countdown, lands, ops }) => {
        const plan = { countdown, lands, dead: false }
        const options = { ...OPTIONS, grantCredits: 1_000_000 }
        const nodes = await Promise.all(
          [0, 1, 2].map((i) =>
            i === victim ? startNode(options, (db) => dyingDb(db, plan)) : startNode(options),
          ),
        )
        try {
          let interrupted: Transfer | undefined
          for (const op of ops) {
            try {
              await transfer(nodes, op)
            } catch (err) {
              if ((err as Error).message !== 'dead') throw err
              interrupted = op
              break
            }
          }
          if (plan.dead) deaths++
          await crashAndRestart(nodes[victim]!)
          for (const node of nodes)
            expect(await node.ledger.verifyAll()).toMatchObject({ ok: true, failures: [] })
          // A voucher lost in the crash is covered by the next one on the same channel.
          if (interrupted !== undefined) {
            const payer = nodes[interrupted.payer]!
            const payee = nodes[interrupted.payee]!
            const channel = await payer.ledger.openChannel(payee.id, interrupted.price)
            await payee.ledger.acceptVoucher(payer.id, await channel.pay(1), interrupted.price)
          }
          expectBooksBalance(nodes)
          for (const node of nodes) expect((await node.ledger.verifyAll()).ok).toBe(true)
        } finally {
          await Promise.all(nodes.map(stopNode))
        }
      }),
      { numRuns: 40 },
    )
    expect(deaths).toBeGreaterThan(10)
  })
})
