import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import {
  createOffer,
  encodeOffer,
  OfferBook,
  type OfferContentRouting,
  type OfferDht,
  offerKey,
  offerValidator,
} from '../../src/protocols/offer/index.ts'

/** An in-memory stand-in for the DHT: validates puts like a remote kad-dht server would. */
class FakeNetwork {
  readonly records = new Map<string, Uint8Array>()
  readonly providers = new Map<string, PeerId>()
  puts = 0

  dht(): OfferDht {
    const records = this.records
    const self = this
    return {
      async *put(key, value) {
        self.puts++
        try {
          await offerValidator(key, value)
          records.set(Buffer.from(key).toString('hex'), value)
          yield { name: 'PEER_RESPONSE', messageName: 'PUT_VALUE' }
        } catch {
          yield { name: 'QUERY_ERROR' }
        }
      },
      async *get(key) {
        const value = records.get(Buffer.from(key).toString('hex'))
        if (value !== undefined) yield { name: 'VALUE', value }
      },
    }
  }

  routing(peerId: PeerId): OfferContentRouting {
    return {
      provide: async () => {
        this.providers.set(peerId.toString(), peerId)
      },
      findProviders: async function* (this: FakeNetwork) {
        for (const id of this.providers.values()) yield { id }
      }.bind(this),
    }
  }
}

function terms(x: number) {
  return () => ({
    uplinkMbps: 25,
    maxConcurrent: 2,
    pricePerGiB: 0.5,
    coordinate: { x, y: 0, height: 1, error: 0.5 },
    addrs: ['/ip4/127.0.0.1/tcp/4001'],
  })
}

async function member(
  net: FakeNetwork,
  x: number,
  init: { ttlMs?: number; republishMarginMs?: number; clock?: () => number } = {},
) {
  const privateKey: PrivateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey)
  const book = new OfferBook(
    { peerId, privateKey, dht: net.dht(), contentRouting: net.routing(peerId) },
    { terms: terms(x), localCoordinate: () => ({ x: 0, y: 0, height: 1, error: 0.5 }), ...init },
  )
  return { peerId, privateKey, book }
}

describe('OfferBook', () => {
  it('publishes, discovers others (not itself), and ranks them by estimated RTT', async () => {
    const net = new FakeNetwork()
    const far = await member(net, 300)
    const near = await member(net, 30)
    const me = await member(net, 0)
    for (const m of [far, near, me]) expect((await m.book.publish()).storedOn).toBe(1)
    const found = await me.book.discover()
    expect(found.map((o) => o.peerId).sort()).toEqual([far.peerId.toString(), near.peerId.toString()].sort())
    const ranked = me.book.list()
    expect(ranked.map((r) => r.offer.peerId)).toEqual([near.peerId.toString(), far.peerId.toString()])
    expect(ranked.map((r) => r.estimatedRttMs)).toEqual([32, 302])
    expect(me.book.coordinateOf(near.peerId)).toEqual(terms(30)().coordinate)
  })

  it('skips invalid records found in the DHT and forgets offers once they expire', async () => {
    const net = new FakeNetwork()
    let now = Date.now()
    const me = await member(net, 0, { clock: () => now })
    const good = await member(net, 10, { ttlMs: 60_000 })
    const bad = await member(net, 20)
    await good.book.publish()
    // A record that bypassed validation: signed by `good` but stored under `bad`'s key.
    const stray = await createOffer(good.privateKey, {
      ...terms(20)(),
      issuedAt: now,
      expiresAt: now + 60_000,
    })
    net.records.set(Buffer.from(offerKey(bad.peerId)).toString('hex'), encodeOffer(stray))
    net.providers.set(bad.peerId.toString(), bad.peerId)

    const found = await me.book.discover()
    expect(found.map((o) => o.peerId)).toEqual([good.peerId.toString()])
    expect(me.book.list()).toHaveLength(1)
    now += 61_000
    expect(me.book.list()).toHaveLength(0)
    expect(me.book.get(good.peerId)).toBeUndefined()
  })

  it('republishes before expiry until stopped, leaving no timer behind', async () => {
    const net = new FakeNetwork()
    const m = await member(net, 0, { ttlMs: 200, republishMarginMs: 150 })
    m.book.start()
    await new Promise((resolve) => setTimeout(resolve, 450))
    await m.book.stop()
    const published = net.puts
    expect(published).toBeGreaterThanOrEqual(3) // every ~100 ms (half the lifetime, as the margin exceeds it)
    expect(published).toBeLessThanOrEqual(6)
    const issued = m.book.published!.issuedAt
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(net.puts).toBe(published)
    expect(m.book.published!.issuedAt).toBe(issued)
  })

  it('refresh() publishes changed terms at once, and again after a publish that was under way', async () => {
    const net = new FakeNetwork()
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey)
    const inner = net.dht()
    // The first put waits for the gate: a publish under way.
    const gate = Promise.withResolvers<void>()
    let firstPut = true
    const dht: OfferDht = {
      async *put(key, value, options) {
        if (firstPut) {
          firstPut = false
          await gate.promise
        }
        yield* inner.put(key, value, options)
      },
      get: inner.get,
    }
    let open = true
    const book = new OfferBook(
      { peerId, privateKey, dht, contentRouting: net.routing(peerId) },
      { terms: () => ({ ...terms(0)(), lending: { open } }), ttlMs: 3_600_000 },
    )
    const settle = () => new Promise((r) => setTimeout(r, 30))
    book.refresh() // before start(): nothing
    book.start()
    await settle()
    expect(book.published).toBeUndefined()
    // The publish under way signed the old terms, so another one follows it.
    open = false
    book.refresh()
    gate.resolve()
    await settle()
    expect(net.puts).toBe(2)
    expect(book.published?.lending).toEqual({ open: false })
    // Between publishes: at once, not at the next republish an hour later.
    open = true
    book.refresh()
    await settle()
    expect(net.puts).toBe(3)
    expect(book.published?.lending).toEqual({ open: true })
    await book.stop()
    book.refresh()
    await settle()
    expect(net.puts).toBe(3)
  })
})
