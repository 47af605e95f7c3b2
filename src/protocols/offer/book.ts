import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { errorMessage } from '../../errors/index.ts'
import type { VivaldiCoordinate } from '../../latency/vivaldi.ts'
import { estimateRtt } from '../../latency/vivaldi.ts'
import {
  DEFAULT_OFFER_DISCOVER_CONCURRENCY,
  DEFAULT_OFFER_REPUBLISH_MARGIN_MS,
  DEFAULT_OFFER_RETRY_MS,
  DEFAULT_OFFER_TTL_MS,
} from './constants.ts'
import type { BandwidthOffer, OfferFields, SignedOffer } from './record.ts'
import { createOffer, encodeOffer, OFFERS_CID, offerKey, validateOfferRecord } from './record.ts'

const log = logger('bwnode:offer')

/** The part of kad-dht the book uses (libp2p.services.dht fits). */
export interface OfferDht {
  put(
    key: Uint8Array,
    value: Uint8Array,
    options?: AbortOptions,
  ): AsyncIterable<{ name: string; messageName?: string }>
  get(key: Uint8Array, options?: AbortOptions): AsyncIterable<{ name: string; value?: Uint8Array }>
}

/** The part of libp2p.contentRouting the book uses. */
export interface OfferContentRouting {
  provide(cid: CID, options?: AbortOptions): Promise<void>
  findProviders(cid: CID, options?: AbortOptions): AsyncIterable<{ id: PeerId }>
}

export interface OfferBookComponents {
  peerId: PeerId
  privateKey: PrivateKey
  dht: OfferDht
  contentRouting: OfferContentRouting
}

/** What this node offers right now (read at every publish, so it can change). */
export type OfferTerms = Omit<OfferFields, 'issuedAt' | 'expiresAt'>

export interface OfferBookInit {
  terms: () => OfferTerms
  /** Lifetime of each published offer (ms). */
  ttlMs?: number
  /** Republish this long before expiry (ms). */
  republishMarginMs?: number
  /** Retry a failed publish after this (ms). */
  retryMs?: number
  /** Offers fetched in parallel by discover(). */
  discoverConcurrency?: number
  /** Wall clock (ms since epoch). */
  clock?: () => number
  /** This node's current Vivaldi coordinate, for ranking offers by estimated RTT. */
  localCoordinate?: () => VivaldiCoordinate
}

export interface PublishResult {
  offer: BandwidthOffer
  /** Peers that confirmed storing the record. */
  storedOn: number
}

export interface RankedOffer {
  offer: BandwidthOffer
  /** RTT predicted from the two Vivaldi coordinates (ms); undefined without a local coordinate. */
  estimatedRttMs: number | undefined
}

/**
 * Publishes this node's offer and finds other nodes' offers.
 *
 * Publishing puts the signed record under `/bwoffer/<peer id>` and provides the
 * well-known OFFERS_CID, so discovery is two DHT steps: find providers of
 * OFFERS_CID, then get each provider's record (validated again here, cached
 * until it expires).
 */
export class OfferBook {
  private readonly components: OfferBookComponents
  private readonly terms: () => OfferTerms
  private readonly ttlMs: number
  private readonly marginMs: number
  private readonly retryMs: number
  private readonly concurrency: number
  private readonly clock: () => number
  private readonly localCoordinate?: () => VivaldiCoordinate
  private readonly cache = new Map<string, BandwidthOffer>()
  private signed: SignedOffer | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private controller: AbortController | undefined
  private inFlight: Promise<unknown> | undefined
  /** The terms changed while a publish was under way: publish again when it ends. */
  private stale = false

  constructor(components: OfferBookComponents, init: OfferBookInit) {
    this.components = components
    this.terms = init.terms
    this.ttlMs = init.ttlMs ?? DEFAULT_OFFER_TTL_MS
    this.marginMs = init.republishMarginMs ?? DEFAULT_OFFER_REPUBLISH_MARGIN_MS
    this.retryMs = init.retryMs ?? DEFAULT_OFFER_RETRY_MS
    this.concurrency = init.discoverConcurrency ?? DEFAULT_OFFER_DISCOVER_CONCURRENCY
    this.clock = init.clock ?? Date.now
    this.localCoordinate = init.localCoordinate
  }

  /** The offer this node last published. */
  get published(): BandwidthOffer | undefined {
    return this.signed?.offer
  }

  /** Sign the current terms, put the record in the DHT and provide OFFERS_CID. */
  async publish(options: AbortOptions = {}): Promise<PublishResult> {
    const now = this.clock()
    const signed = await createOffer(this.components.privateKey, {
      ...this.terms(),
      issuedAt: now,
      expiresAt: now + this.ttlMs,
    })
    let storedOn = 0
    for await (const event of this.components.dht.put(
      offerKey(this.components.peerId),
      encodeOffer(signed),
      options,
    )) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') storedOn++
    }
    await this.components.contentRouting.provide(OFFERS_CID, options)
    this.signed = signed
    log('published offer (stored on %d peers, expires %d)', storedOn, signed.offer.expiresAt)
    return { offer: signed.offer, storedOn }
  }

  /** Publish now and again before each offer expires, until stop(). */
  start(): void {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    this.schedule(0)
  }

  /**
   * The terms changed (lending opened or closed): publish now rather than at the next
   * republish, so peers' copies say so. Does nothing before start().
   */
  refresh(): void {
    if (this.controller === undefined) return
    if (this.timer === undefined) {
      this.stale = true
      return
    }
    clearTimeout(this.timer)
    this.timer = undefined
    this.schedule(0)
  }

  /** Stop republishing; aborts a publish in progress and waits for it. */
  async stop(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
    await this.inFlight?.catch(() => {})
  }

  /**
   * Find every node providing OFFERS_CID and fetch its offer. Invalid or
   * missing records are skipped. Returns the offers found in this call.
   */
  async discover(options: AbortOptions = {}): Promise<BandwidthOffer[]> {
    const self = this.components.peerId
    const providers = new Map<string, PeerId>()
    for await (const provider of this.components.contentRouting.findProviders(OFFERS_CID, options)) {
      if (!provider.id.equals(self)) providers.set(provider.id.toString(), provider.id)
    }
    const queue = [...providers.values()]
    const found: BandwidthOffer[] = []
    const worker = async () => {
      for (let peer = queue.shift(); peer !== undefined; peer = queue.shift()) {
        const offer = await this.fetch(peer, options)
        if (offer !== undefined) found.push(offer)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker))
    return found
  }

  /** Get and validate one peer's offer from the DHT; undefined if none is found or it is invalid. */
  async fetch(peer: PeerId, options: AbortOptions = {}): Promise<BandwidthOffer | undefined> {
    const key = offerKey(peer)
    let value: Uint8Array | undefined
    try {
      for await (const event of this.components.dht.get(key, options)) {
        if (event.name === 'VALUE' && event.value !== undefined) value = event.value
      }
    } catch (err) {
      options.signal?.throwIfAborted()
      log('no offer for %p: %s', peer, errorMessage(err))
    }
    if (value === undefined) return undefined
    try {
      const { offer } = await validateOfferRecord(key, value, this.clock())
      const cached = this.cache.get(offer.peerId)
      if (cached === undefined || cached.issuedAt <= offer.issuedAt) this.cache.set(offer.peerId, offer)
      return this.cache.get(offer.peerId)
    } catch (err) {
      log('rejected offer for %p: %s', peer, errorMessage(err))
      return undefined
    }
  }

  /** A cached, unexpired offer of `peer`. */
  get(peer: PeerId | string): BandwidthOffer | undefined {
    const offer = this.cache.get(String(peer))
    if (offer === undefined) return undefined
    if (offer.expiresAt <= this.clock()) {
      this.cache.delete(offer.peerId)
      return undefined
    }
    return offer
  }

  /** The coordinate a peer published, e.g. to feed LatencyRecorder.startPinging. */
  coordinateOf(peer: PeerId | string): VivaldiCoordinate | undefined {
    return this.get(peer)?.coordinate
  }

  /** Unexpired cached offers, nearest first by Vivaldi-estimated RTT (ties and unknowns by peer id). */
  list(): RankedOffer[] {
    const now = this.clock()
    const local = this.localCoordinate?.()
    const ranked: RankedOffer[] = []
    for (const [id, offer] of this.cache) {
      if (offer.expiresAt <= now) {
        this.cache.delete(id)
        continue
      }
      ranked.push({
        offer,
        estimatedRttMs: local === undefined ? undefined : estimateRtt(local, offer.coordinate),
      })
    }
    return ranked.sort(
      (a, b) =>
        (a.estimatedRttMs ?? Number.POSITIVE_INFINITY) - (b.estimatedRttMs ?? Number.POSITIVE_INFINITY) ||
        (a.offer.peerId < b.offer.peerId ? -1 : 1),
    )
  }

  private schedule(delayMs: number): void {
    const controller = this.controller
    if (controller === undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.stale = false
      const run = this.publish({ signal: controller.signal }).then(
        ({ offer }) => {
          if (controller.signal.aborted) return
          if (this.stale) {
            this.schedule(0)
            return
          }
          // Never closer to expiry than half the lifetime, so a short TTL cannot make a busy loop.
          const leadMs = Math.min(this.marginMs, this.ttlMs / 2)
          this.schedule(Math.max(0, offer.expiresAt - leadMs - this.clock()))
        },
        (err) => {
          if (controller.signal.aborted) return
          log.error('publishing offer failed: %s', errorMessage(err))
          this.schedule(this.retryMs)
        },
      )
      this.inFlight = run
    }, delayMs)
  }
}
