import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.ts'
import { LatencyRecorder } from '../../src/latency/recorder.ts'
import {
  createOffer,
  encodeOffer,
  OfferBook,
  offerKey,
  offerSelectors,
  offerValidators,
} from '../../src/protocols/offer/index.ts'

/**
 * Five real libp2p nodes on 127.0.0.1 (TCP, noise, yamux, private kad-dht with
 * the offer validator and selector), all bootstrapped from node 0. Four publish
 * offers; the fifth finds them all through the DHT. A node that puts a forged
 * record under another peer's key gets it refused by every other node.
 */

type Node = Libp2p<{ dht: KadDHT; ping: Ping; identify: unknown }>

interface Member {
  node: Node
  key: PrivateKey
  book: OfferBook
}

const COUNT = 5
const members: Member[] = []

async function startMember(index: number): Promise<Member> {
  const key = await generateKeyPair('Ed25519')
  const node: Node = await createLibp2p({
    privateKey: key,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Every node dials from 127.0.0.1: lift the per-host inbound rate limit.
    connectionManager: { inboundConnectionThreshold: 1000 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: '/bwnode/kad/1.0.0',
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        validators: offerValidators,
        selectors: offerSelectors,
        initialQuerySelfInterval: 200,
      }),
    },
  })
  const book = new OfferBook(
    { peerId: node.peerId, privateKey: key, dht: node.services.dht, contentRouting: node.contentRouting },
    {
      terms: () => ({
        uplinkMbps: 10 * (index + 1),
        maxConcurrent: 4,
        pricePerGiB: 1.0,
        coordinate: { x: index * 10, y: 0, height: 5, error: 0.3 },
        addrs: node.getMultiaddrs().map((a) => a.toString()),
      }),
      localCoordinate: () => ({ x: 0, y: 0, height: 5, error: 0.3 }),
    },
  )
  return { node, key, book }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

beforeAll(async () => {
  for (let i = 0; i < COUNT; i++) members.push(await startMember(i))
  const bootstrap = members[0]!.node
  await Promise.all(members.slice(1).map((m) => m.node.dial(bootstrap.getMultiaddrs()[0]!)))
  // Routing tables fill through identify and the self-queries.
  await waitFor('routing tables', () =>
    members.every(
      (m) =>
        (m.node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= COUNT - 1,
    ),
  )
})

afterAll(async () => {
  await Promise.all(
    members.map(async (m) => {
      await m.book.stop()
      await m.node.stop()
    }),
  )
})

describe('bandwidth offers over a private kad-dht', () => {
  it('publishes four offers that a fifth node discovers, validated and ranked by estimated RTT', async () => {
    const publishers = members.slice(0, 4)
    const results = await Promise.all(
      publishers.map((m) => m.book.publish({ signal: AbortSignal.timeout(20_000) })),
    )
    for (const r of results) expect(r.storedOn).toBeGreaterThanOrEqual(1)

    const seeker = members[4]!.book
    const found = await seeker.discover({ signal: AbortSignal.timeout(30_000) })
    const expected = publishers.map((m) => m.node.peerId.toString()).sort()
    expect(found.map((o) => o.peerId).sort()).toEqual(expected)
    for (const offer of found) {
      const index = members.findIndex((m) => m.node.peerId.toString() === offer.peerId)
      expect(offer.uplinkMbps).toBe(10 * (index + 1))
      expect(offer.addrs.length).toBeGreaterThan(0)
    }
    const ranked = seeker.list()
    expect(ranked.map((r) => r.offer.peerId)).toEqual(publishers.map((m) => m.node.peerId.toString()))
    expect(ranked.map((r) => r.estimatedRttMs)).toEqual([10, 20, 30, 40])
  })

  it("refuses a forged record put under another peer's key", async () => {
    const [, victim, forger, , seeker] = members as [Member, Member, Member, Member, Member]
    const genuine = await seeker.book.fetch(victim.node.peerId, { signal: AbortSignal.timeout(20_000) })
    expect(genuine?.uplinkMbps).toBe(20)

    const now = Date.now()
    // 1. The forger's own signed offer, stored under the victim's key.
    const ownOffer = await createOffer(forger.key, {
      uplinkMbps: 99_999,
      maxConcurrent: 1,
      pricePerGiB: 0,
      coordinate: { x: 0, y: 0, height: 0, error: 1 },
      addrs: [],
      issuedAt: now + 1000,
      expiresAt: now + 60_000,
    })
    // 2. An offer naming the victim but signed with the forger's key (newer, so a selector would prefer it).
    const impersonation = encodeOffer({
      offer: { ...ownOffer.offer, peerId: victim.node.peerId.toString() },
      signature: ownOffer.signature,
    })
    for (const forged of [encodeOffer(ownOffer), impersonation]) {
      let accepted = 0
      let refused = 0
      for await (const event of forger.node.services.dht.put(offerKey(victim.node.peerId), forged, {
        signal: AbortSignal.timeout(20_000),
      })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') accepted++
        if (event.name === 'QUERY_ERROR') refused++
      }
      expect(accepted).toBe(0)
      expect(refused).toBeGreaterThanOrEqual(1)
    }

    const after = await seeker.book.fetch(victim.node.peerId, { signal: AbortSignal.timeout(20_000) })
    expect(after?.uplinkMbps).toBe(20)
    expect(after?.peerId).toBe(victim.node.peerId.toString())
  })

  it('pings connected peers with libp2p ping and records their RTTs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-offer-ping-'))
    const db = await openDatabase(dir)
    try {
      const seeker = members[4]!
      const recorder = new LatencyRecorder({ db })
      const pinger = recorder.startPinging(seeker.node, 50, {
        coordinateOf: (p) => seeker.book.coordinateOf(p),
      })
      const connected = new Set(seeker.node.getConnections().map((c) => c.remotePeer.toString()))
      await new Promise((resolve) => setTimeout(resolve, 400)) // several ping rounds
      await pinger.stop()
      const summaries = await recorder.peers()
      expect(summaries.length).toBe(connected.size)
      for (const s of summaries) {
        expect(connected.has(s.peerId)).toBe(true)
        expect(s.rttMs.samples).toBeGreaterThanOrEqual(1)
        expect(s.rttMs.p99).toBeLessThan(1000) // loopback
      }
      await recorder.close()
    } finally {
      await db.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
