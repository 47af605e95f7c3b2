import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors/index.ts'
import { DEFAULT_HISTORY_RETAIN_EVENTS } from '../../src/ledger/constants.ts'
import {
  creditsForBytes,
  encodeVoucher,
  InsufficientCredits,
  Ledger,
  newChannelId,
  PaymentRequired,
  signVoucher,
  type Voucher,
  type VoucherFields,
  VoucherRejected,
  voucherSigningBytes,
} from '../../src/ledger/index.ts'
import { eventKey, type LedgerEvent, openLedgerStore } from '../../src/ledger/store.ts'
import {
  crashAndRestart,
  creditView,
  newIdentity,
  startNode,
  stopNode,
  type TestNode,
} from '../helpers/ledger.ts'

const PRICE = 1_000_000 // µcr per GiB
const MiB = 2 ** 20

let nodes: TestNode[] = []

async function start(count: number, options: Parameters<typeof startNode>[0] = {}): Promise<TestNode[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startNode(options)))
  nodes.push(...started)
  return started
}

afterEach(async () => {
  await Promise.all(nodes.map(stopNode))
  nodes = []
})

function fieldsFor(
  payer: { id: string },
  payee: { id: string },
  overrides: Partial<VoucherFields> = {},
): VoucherFields {
  const cumulativeBytes = overrides.cumulativeBytes ?? MiB
  const pricePerGiB = overrides.pricePerGiB ?? PRICE
  return {
    payer: payer.id,
    payee: payee.id,
    channelId: newChannelId(),
    sequence: 1,
    cumulativeBytes,
    cumulativeCredits: creditsForBytes(cumulativeBytes, pricePerGiB),
    pricePerGiB,
    timeMs: 1,
    ...overrides,
  }
}

async function expectRejected(
  server: TestNode,
  from: string,
  bytes: Uint8Array,
  code: string,
  price = PRICE,
): Promise<void> {
  const before = creditView(server.ledger)
  const rejectedBefore = server.ledger.summary().peers.find((p) => p.peerId === from)?.rejected ?? 0
  const err = await server.ledger.acceptVoucher(from, bytes, price).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(VoucherRejected)
  expect((err as VoucherRejected).code).toBe(code)
  // Nothing credited, and the rejection counted against the sender.
  expect(creditView(server.ledger)).toEqual(before)
  expect(server.ledger.summary().peers.find((p) => p.peerId === from)?.rejected).toBe(rejectedBefore + 1)
}

describe('Ledger: paying and earning', () => {
  it('moves credits from payer to payee and keeps balance = grant + earned - spent', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.peerId, PRICE)
    let paid = 0
    for (let i = 0; i < 5; i++) {
      server!.ledger.chargeServe(client!.peerId, MiB)
      const credited = await server!.ledger.acceptVoucher(client!.peerId, await channel.pay(MiB), PRICE)
      expect(credited.bytes).toBe(MiB)
      paid += credited.credits
    }
    expect(paid).toBe(creditsForBytes(5 * MiB, PRICE))
    const c = client!.ledger.summary()
    const s = server!.ledger.summary()
    expect(c.spent).toBe(paid)
    expect(s.earned).toBe(paid)
    expect(c.balance).toBe(c.grant - paid)
    expect(s.balance).toBe(s.grant + paid)
    expect(s.peers).toEqual([
      {
        peerId: client!.id,
        earned: paid,
        spent: 0,
        servedBytes: 5 * MiB,
        paidBytes: 5 * MiB,
        boughtBytes: 0,
        unpaidBytes: 0,
        rejected: 0,
      },
    ])
    expect(channel.sequence).toBe(5)
    expect((await client!.ledger.verifyAll()).ok).toBe(true)
    const report = await server!.ledger.verifyAll()
    expect(report).toEqual({ ok: true, checked: 1, failures: [] })
  })

  it('lets a lost voucher be covered by the next one (vouchers are cumulative)', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    await channel.pay(3 * MiB) // lost on the way
    const credited = await server!.ledger.acceptVoucher(client!.id, await channel.pay(MiB), PRICE)
    expect(credited.bytes).toBe(4 * MiB)
    expect(server!.ledger.earned).toBe(client!.ledger.spent)
  })

  it('rounds over cumulative bytes, so many small payments cost what one large one does', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    for (let i = 0; i < 100; i++)
      await server!.ledger.acceptVoucher(client!.id, await channel.pay(1000), PRICE)
    expect(server!.ledger.earned).toBe(creditsForBytes(100_000, PRICE))
    expect(client!.ledger.spent).toBe(creditsForBytes(100_000, PRICE))
  })

  it('refuses to sign when the balance would go negative, and canAfford agrees', async () => {
    const grantCredits = 1000 // µcr: 1000 × 2^30 / 1e6 ≈ 1.07 MB at PRICE
    const [client, server] = await start(2, { grantCredits })
    expect(client!.ledger.canAfford(MiB, PRICE)).toBe(true)
    expect(client!.ledger.canAfford(2 * MiB, PRICE)).toBe(false)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    const err = await channel.pay(2 * MiB).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InsufficientCredits)
    expect((err as InsufficientCredits).code).toBe('ERR_INSUFFICIENT_CREDITS')
    expect(client!.ledger.balance).toBe(grantCredits)
    expect(channel.sequence).toBe(0)
    expect(await client!.ledger.history()).toEqual([])
    // Exactly the balance is fine; one more byte is not.
    await server!.ledger.acceptVoucher(client!.id, await channel.pay(MiB), PRICE)
    const left = client!.ledger.balance
    expect(left).toBe(grantCredits - creditsForBytes(MiB, PRICE))
    const affordable = Math.floor((left * 2 ** 30) / PRICE)
    await expect(channel.pay(affordable + 2000)).rejects.toBeInstanceOf(InsufficientCredits)
    await server!.ledger.acceptVoucher(client!.id, await channel.pay(affordable), PRICE)
    expect(client!.ledger.balance).toBeGreaterThanOrEqual(0)
    expect(client!.ledger.balance).toBeLessThanOrEqual(1)
  })

  it('lets a node spend what it earned beyond its grant', async () => {
    const [a, b, c] = await start(3, { grantCredits: 2000 })
    const ab = await a!.ledger.openChannel(b!.id, PRICE)
    await b!.ledger.acceptVoucher(a!.id, await ab.pay(2 * MiB), PRICE)
    const bc = await b!.ledger.openChannel(c!.id, PRICE)
    // b spends 3 MiB worth: more than its own grant of 2000 µcr covers.
    await c!.ledger.acceptVoucher(b!.id, await bc.pay(3 * MiB), PRICE)
    expect(b!.ledger.balance).toBe(2000 + creditsForBytes(2 * MiB, PRICE) - creditsForBytes(3 * MiB, PRICE))
  })

  it('keeps the channel across a crash and continues with higher sequences', async () => {
    const [client, server] = await start(2)
    const before = await client!.ledger.openChannel(server!.id, PRICE)
    for (let i = 0; i < 3; i++) await server!.ledger.acceptVoucher(client!.id, await before.pay(MiB), PRICE)
    await crashAndRestart(client!)
    const after = await client!.ledger.openChannel(server!.id, PRICE)
    expect(after.channelId).toBe(before.channelId)
    expect(after.sequence).toBe(3)
    expect(after.cumulativeBytes).toBe(3 * MiB)
    const credited = await server!.ledger.acceptVoucher(client!.id, await after.pay(MiB), PRICE)
    expect(credited.voucher.sequence).toBe(4)
    expect(credited.bytes).toBe(MiB)
    expect(server!.ledger.earned).toBe(client!.ledger.spent)
  })

  it('opens a new channel when the price changes and closes the old one', async () => {
    const [client, server] = await start(2)
    const first = await client!.ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(client!.id, await first.pay(MiB), PRICE)
    expect(await client!.ledger.openChannel(server!.id, PRICE)).toBe(first)
    const second = await client!.ledger.openChannel(server!.id, 2 * PRICE)
    expect(second.channelId).not.toBe(first.channelId)
    expect(second.sequence).toBe(0)
    expect(first.closed).toBe(true)
    await expect(first.pay(1)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' })
    await server!.ledger.acceptVoucher(client!.id, await second.pay(MiB), PRICE)
    expect(server!.ledger.earned).toBe(creditsForBytes(MiB, PRICE) + creditsForBytes(MiB, 2 * PRICE))
    expect(server!.ledger.earned).toBe(client!.ledger.spent)
    expect((await server!.ledger.verifyAll()).checked).toBe(2)
  })

  it('records earn, spend and reject events, newest first', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    const voucher = await channel.pay(MiB)
    await server!.ledger.acceptVoucher(client!.id, voucher, PRICE)
    await server!.ledger.acceptVoucher(client!.id, voucher, PRICE).catch(() => {})
    const serverHistory = await server!.ledger.history(10)
    expect(serverHistory.map((e) => [e.kind, e.peer, e.bytes, e.code])).toEqual([
      ['reject', client!.id, 0, 'ERR_VOUCHER_REPLAY'],
      ['earn', client!.id, MiB, undefined],
    ])
    expect(serverHistory[1]!.credits).toBe(creditsForBytes(MiB, PRICE))
    const clientHistory = await client!.ledger.history(10)
    expect(clientHistory.map((e) => [e.kind, e.peer, e.credits])).toEqual([
      ['spend', server!.id, creditsForBytes(MiB, PRICE)],
    ])
    expect(await server!.ledger.history(1)).toHaveLength(1)
  })

  it('keeps only the configured number of events', async () => {
    const [client, server] = await start(2, { historyRetainEvents: 5 })
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    for (let i = 0; i < 12; i++) await channel.pay(1000)
    const events = await client!.ledger.history(100)
    expect(events).toHaveLength(5)
    expect(events.map((e) => e.sequence)).toEqual([12, 11, 10, 9, 8])
  })

  it('works inside a sublevel of the node database', async () => {
    const [host, server] = await start(2)
    const ledger = new Ledger({ db: host!.db.sublevel('node'), self: host!.peerId, privateKey: host!.key })
    await ledger.open()
    const channel = await ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(host!.id, await channel.pay(MiB), PRICE)
    expect(ledger.spent).toBe(server!.ledger.earned)
    expect((await ledger.verifyAll()).ok).toBe(true)
    await ledger.close()
    await expect(channel.pay(1)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' })
    expect(() => ledger.chargeServe(server!.id, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_LEDGER_STATE' }),
    )
  })

  it('refuses bad configuration', async () => {
    const id = await newIdentity()
    const base = { db: nodes[0]?.db ?? (await start(1))[0]!.db, self: id.peerId, privateKey: id.key }
    expect(() => new Ledger({ ...base, paymentThresholdBytes: 100, disconnectThresholdBytes: 100 })).toThrow(
      ConfigError,
    )
    expect(() => new Ledger({ ...base, grantCredits: -1 })).toThrow(ConfigError)
    expect(() => new Ledger({ ...base, paymentThresholdBytes: 0 })).toThrow(ConfigError)
    const stranger = await newIdentity()
    expect(() => new Ledger({ ...base, privateKey: stranger.key })).toThrow(ConfigError)
  })
})

describe('Ledger: voucher rejection', () => {
  it('rejects a replayed voucher and a lower sequence', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    const first = await channel.pay(MiB)
    await server!.ledger.acceptVoucher(client!.id, first, PRICE)
    const second = await channel.pay(MiB)
    await server!.ledger.acceptVoucher(client!.id, second, PRICE)
    await expectRejected(server!, client!.id, second, 'ERR_VOUCHER_REPLAY')
    await expectRejected(server!, client!.id, first, 'ERR_VOUCHER_REPLAY')
    // A fresh signature with a lower sequence but more bytes is still a replay.
    const lower = await signVoucher(
      client!.key,
      fieldsFor(client!, server!, { channelId: channel.channelId, sequence: 1, cumulativeBytes: 10 * MiB }),
    )
    await expectRejected(server!, client!.id, encodeVoucher(lower), 'ERR_VOUCHER_REPLAY')
  })

  it('rejects a higher sequence that does not add bytes, and credits that do not match the bytes', async () => {
    const [client, server] = await start(2)
    const channelId = newChannelId()
    const v1 = await signVoucher(
      client!.key,
      fieldsFor(client!, server!, { channelId, cumulativeBytes: 2 * MiB }),
    )
    await server!.ledger.acceptVoucher(client!.id, encodeVoucher(v1), PRICE)
    const same = await signVoucher(client!.key, { ...v1, sequence: 2 })
    await expectRejected(server!, client!.id, encodeVoucher(same), 'ERR_VOUCHER_AMOUNT')
    const cheap = await signVoucher(client!.key, {
      ...fieldsFor(client!, server!, { channelId, sequence: 3, cumulativeBytes: 4 * MiB }),
      cumulativeCredits: creditsForBytes(4 * MiB, PRICE) - 1,
    })
    await expectRejected(server!, client!.id, encodeVoucher(cheap), 'ERR_VOUCHER_AMOUNT')
  })

  it('rejects a voucher for another payee', async () => {
    const [client, server, other] = await start(3)
    const voucher = await signVoucher(client!.key, fieldsFor(client!, other!))
    await expectRejected(server!, client!.id, encodeVoucher(voucher), 'ERR_VOUCHER_PAYEE')
  })

  it('rejects self-dealing, whoever sends it', async () => {
    const [server, client] = await start(2)
    const selfPaid = await signVoucher(server!.key, fieldsFor(server!, server!))
    await expectRejected(server!, server!.id, encodeVoucher(selfPaid), 'ERR_VOUCHER_SELF')
    await expectRejected(server!, client!.id, encodeVoucher(selfPaid), 'ERR_VOUCHER_SELF')
    await expect(server!.ledger.openChannel(server!.id, PRICE)).rejects.toMatchObject({
      code: 'ERR_VOUCHER_SELF',
    })
  })

  it('rejects a voucher relayed by a peer that is not its payer', async () => {
    const [client, server, relay] = await start(3)
    const voucher = await signVoucher(client!.key, fieldsFor(client!, server!))
    await expectRejected(server!, relay!.id, encodeVoucher(voucher), 'ERR_VOUCHER_PAYER')
  })

  it('rejects a price below the offer and a price change within a channel', async () => {
    const [client, server] = await start(2)
    const cheap = await client!.ledger.openChannel(server!.id, PRICE / 2)
    await expectRejected(server!, client!.id, await cheap.pay(MiB), 'ERR_VOUCHER_PRICE')
    // A price above the offer is fine ...
    const channelId = newChannelId()
    const v1 = await signVoucher(
      client!.key,
      fieldsFor(client!, server!, { channelId, pricePerGiB: 2 * PRICE }),
    )
    await server!.ledger.acceptVoucher(client!.id, encodeVoucher(v1), PRICE)
    // ... but a channel's price is fixed once set.
    const v2 = await signVoucher(
      client!.key,
      fieldsFor(client!, server!, {
        channelId,
        sequence: 2,
        cumulativeBytes: 2 * MiB,
        pricePerGiB: 3 * PRICE,
      }),
    )
    await expectRejected(server!, client!.id, encodeVoucher(v2), 'ERR_VOUCHER_PRICE')
  })

  it('rejects a voucher signed by another key', async () => {
    const [client, server, forger] = await start(3)
    const fields = fieldsFor(client!, server!)
    const forged: Voucher = { ...fields, signature: await forger!.key.sign(voucherSigningBytes(fields)) }
    await expectRejected(server!, client!.id, encodeVoucher(forged), 'ERR_VOUCHER_SIGNATURE')
  })

  it('rejects garbage and tampered vouchers as malformed or unsigned, never crediting', async () => {
    const [client, server] = await start(2)
    await expectRejected(server!, client!.id, new Uint8Array([1, 2, 3]), 'ERR_VOUCHER_MALFORMED')
    await expectRejected(server!, client!.id, new Uint8Array(10_000), 'ERR_VOUCHER_MALFORMED')
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    const good = await channel.pay(MiB)
    // Bump the cumulative-bytes field (bytes 103..110): still well-formed, no longer signed.
    const tampered = Uint8Array.from(good)
    tampered[108] = tampered[108]! ^ 0x01
    await expectRejected(server!, client!.id, tampered, 'ERR_VOUCHER_SIGNATURE')
    await server!.ledger.acceptVoucher(client!.id, good, PRICE)
    expect(server!.ledger.summary().peers[0]!.rejected).toBe(3)
    expect((await server!.ledger.verifyAll()).ok).toBe(true)
  })

  it('keeps rejection counts across a restart', async () => {
    const [client, server] = await start(2)
    await server!.ledger.acceptVoucher(client!.id, new Uint8Array(5), PRICE).catch(() => {})
    await server!.ledger.close()
    await crashAndRestart(server!)
    expect(server!.ledger.summary().peers[0]).toMatchObject({ peerId: client!.id, rejected: 1 })
  })
})

/** Every event the ledger has stored, oldest first, read from LevelDB itself rather than through history(). */
async function storedEvents(node: TestNode): Promise<Array<[string, LedgerEvent]>> {
  await node.ledger.flush()
  const events: Array<[string, LedgerEvent]> = []
  for await (const entry of openLedgerStore(node.db).events.iterator()) events.push(entry)
  return events
}

/** A clock that ticks once per reading, so every event's time says when it came. */
function tickingClock(): () => number {
  let now = 1_000
  return () => now++
}

describe('Ledger: history bound', () => {
  it('keeps the newest 10,000 events in LevelDB under a flood of rejected vouchers', async () => {
    const [client, server] = await start(2, { clock: tickingClock() })
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(client!.id, await channel.pay(MiB), PRICE)
    const fields = fieldsFor(client!, server!)
    const forged = encodeVoucher({
      ...fields,
      signature: await server!.key.sign(voucherSigningBytes(fields)),
    })
    const flood = DEFAULT_HISTORY_RETAIN_EVENTS + 2_000
    for (let i = 0; i < flood; i++) {
      const bytes = i % 100 === 0 ? forged : Uint8Array.of(1, i & 0xff, i >> 8)
      await server!.ledger.acceptVoucher(client!.id, bytes, PRICE).catch((err: unknown) => {
        if (!(err instanceof VoucherRejected)) throw err
      })
    }
    expect(server!.ledger.summary().peers[0]!.rejected).toBe(flood)
    const events = await storedEvents(server!)
    expect(events).toHaveLength(DEFAULT_HISTORY_RETAIN_EVENTS)
    // The newest ones: the earn and the first 2,001 rejections are gone, the keys run to the last event.
    const total = flood + 1
    expect(events[0]![0]).toBe(eventKey(total - DEFAULT_HISTORY_RETAIN_EVENTS))
    expect(events.at(-1)![0]).toBe(eventKey(total - 1))
    expect(events.every(([, e]) => e.kind === 'reject')).toBe(true)
    const times = events.map(([, e]) => e.time)
    expect(times).toEqual([...times].sort((a, b) => a - b))
    const newest = await server!.ledger.history(1)
    expect(newest[0]!.time).toBe(times.at(-1))
    expect(server!.ledger.earned).toBe(creditsForBytes(MiB, PRICE))
    expect((await server!.ledger.verifyAll()).ok).toBe(true)
  })

  it('bounds every kind of event together, earn, spend and reject interleaved', async () => {
    const options = { historyRetainEvents: 7, clock: tickingClock() }
    const [client, server] = await start(2, options)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    const kinds: string[] = []
    for (let i = 0; i < 20; i++) {
      const voucher = await channel.pay(1000)
      if (i % 3 === 0) {
        await server!.ledger.acceptVoucher(client!.id, new Uint8Array(3), PRICE).catch(() => {})
        kinds.push('reject')
      }
      await server!.ledger.acceptVoucher(client!.id, voucher, PRICE)
      kinds.push('earn')
    }
    const events = await storedEvents(server!)
    expect(events.map(([, e]) => e.kind)).toEqual(kinds.slice(-7))
    expect((await storedEvents(client!)).map(([, e]) => e.sequence)).toEqual([14, 15, 16, 17, 18, 19, 20])
    expect((await server!.ledger.history(100)).map((e) => e.kind)).toEqual(kinds.slice(-7).reverse())
  })

  it('trims a history left longer than the limit when it opens, and keeps it bounded after', async () => {
    const [client, server] = await start(2, { historyRetainEvents: 50, clock: tickingClock() })
    for (let i = 0; i < 50; i++) {
      await server!.ledger.acceptVoucher(client!.id, Uint8Array.of(i), PRICE).catch(() => {})
    }
    const before = await storedEvents(server!)
    expect(before).toHaveLength(50)
    await server!.ledger.close()
    server!.options.historyRetainEvents = 10
    await crashAndRestart(server!)
    expect(await storedEvents(server!)).toEqual(before.slice(-10))
    await server!.ledger.acceptVoucher(client!.id, Uint8Array.of(1), PRICE).catch(() => {})
    const after = await storedEvents(server!)
    expect(after).toHaveLength(10)
    expect(after.slice(0, 9)).toEqual(before.slice(-9))
    expect(after[9]![0]).toBe(eventKey(50))
  })
})

describe('Ledger: payment thresholds', () => {
  it('serves up to the payment threshold, then requires payment, then disconnects', async () => {
    const [client, server] = await start(2, { paymentThresholdBytes: 1000, disconnectThresholdBytes: 3000 })
    const peer = client!.id
    server!.ledger.chargeServe(peer, 600)
    server!.ledger.chargeServe(peer, 400) // exactly at the threshold: still served
    expect(server!.ledger.unpaidBytes(peer)).toBe(1000)
    const refused = (() => {
      try {
        server!.ledger.chargeServe(peer, 1)
      } catch (err) {
        return err
      }
    })()
    expect(refused).toBeInstanceOf(PaymentRequired)
    expect(refused).toMatchObject({ code: 'ERR_PAYMENT_REQUIRED', unpaidBytes: 1000, thresholdBytes: 1000 })
    expect(server!.ledger.unpaidBytes(peer)).toBe(1000)
    // Keeps asking without paying: refused bytes pile up until the disconnect threshold.
    expect(() => server!.ledger.chargeServe(peer, 1000)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYMENT_REQUIRED' }),
    )
    expect(() => server!.ledger.chargeServe(peer, 1000)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYMENT_DISCONNECT' }),
    )
    // Paying clears the debt and the refusals.
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(peer, await channel.pay(1000), PRICE)
    expect(server!.ledger.unpaidBytes(peer)).toBe(0)
    server!.ledger.chargeServe(peer, 1000)
    expect(() => server!.ledger.chargeServe(peer, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_PAYMENT_REQUIRED' }),
    )
  })

  it('tracks each peer separately and lets releaseServe undo an unsent charge', async () => {
    const [a, b, server] = await start(3, { paymentThresholdBytes: 1000, disconnectThresholdBytes: 2000 })
    server!.ledger.chargeServe(a!.id, 1000)
    server!.ledger.chargeServe(b!.id, 1000)
    server!.ledger.releaseServe(a!.id, 300)
    server!.ledger.chargeServe(a!.id, 300)
    expect(() => server!.ledger.chargeServe(a!.id, 1)).toThrow(PaymentRequired)
    expect(server!.ledger.summary().peers.map((p) => p.unpaidBytes)).toEqual([1000, 1000])
  })

  it('counts prepaid bytes against later serving', async () => {
    const [client, server] = await start(2, { paymentThresholdBytes: 1000, disconnectThresholdBytes: 2000 })
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(client!.id, await channel.pay(500), PRICE)
    server!.ledger.chargeServe(client!.id, 1500)
    expect(server!.ledger.unpaidBytes(client!.id)).toBe(1000)
    expect(() => server!.ledger.chargeServe(client!.id, 1)).toThrow(PaymentRequired)
  })
})

describe('Ledger: verifyAll and crashes', () => {
  it('has the same summary after a crash and restart, and verifyAll passes', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    for (let i = 0; i < 4; i++) {
      server!.ledger.chargeServe(client!.id, MiB)
      await server!.ledger.acceptVoucher(client!.id, await channel.pay(MiB), PRICE)
    }
    await server!.ledger.acceptVoucher(client!.id, new Uint8Array(3), PRICE).catch(() => {})
    const summaries = [client!.ledger.summary(), server!.ledger.summary()]
    await crashAndRestart(client!)
    await crashAndRestart(server!)
    expect([client!.ledger.summary(), server!.ledger.summary()]).toEqual(summaries)
    expect((await client!.ledger.verifyAll()).ok).toBe(true)
    expect((await server!.ledger.verifyAll()).ok).toBe(true)
  })

  it('catches totals that disagree with the vouchers, and a voucher whose signature broke', async () => {
    const [client, server] = await start(2)
    const channel = await client!.ledger.openChannel(server!.id, PRICE)
    await server!.ledger.acceptVoucher(client!.id, await channel.pay(MiB), PRICE)
    const root = server!.db.sublevel('ledger')
    const totals = root.sublevel<string, { earned: number; spent: number }>('totals', {
      valueEncoding: 'json',
    })
    await totals.put('self', { earned: 1, spent: 0 })
    const vouchers = root.sublevel<string, { voucher: string; at: number }>('vouchers-in', {
      valueEncoding: 'json',
    })
    for await (const [key, stored] of vouchers.iterator()) {
      const bytes = Buffer.from(stored.voucher, 'base64')
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1
      await vouchers.put(key, { ...stored, voucher: bytes.toString('base64') })
    }
    await crashAndRestart(server!)
    const report = await server!.ledger.verifyAll()
    expect(report.ok).toBe(false)
    expect(report.checked).toBe(1)
    const reasons = report.failures.map((f) => `${f.what}: ${f.reason}`).join('\n')
    expect(reasons).toMatch(/signature does not verify/)
    expect(reasons).toMatch(/totals earned/)
  })
})
