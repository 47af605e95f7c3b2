import type { PeerId } from '@libp2p/interface'
import type { BwnodeConfig } from '../config/schema.ts'
import { ERR } from '../errors/codes.ts'
import { VoucherRejected } from '../ledger/errors.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { LendingAllowance } from '../lending/allowance.ts'
import type { ChunkSource, ServePolicy } from '../protocols/chunk/types.ts'
import { Semaphore, TokenBucket } from '../protocols/offer/limits.ts'
import type { ContentStore } from '../store/content-store.ts'
import type { BandwidthMeter } from './bandwidth.ts'
import type { NodeMetrics } from './metrics.ts'
import type { ServedByDataset } from './served.ts'

/**
 * Closing the connections to a peer cut off for debt waits this long for their streams to
 * close gracefully, then aborts them, ms: a peer that stops reading must not keep them open.
 */
export const HANG_UP_TIMEOUT_MS = 2_000

/** What the chunk server reads: the store, with "not held here" as undefined. */
export function chunkSourceOf(store: ContentStore): ChunkSource {
  const unlessUnknown = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read()
    } catch (err) {
      if ((err as { code?: string }).code === ERR.DATASET_NOT_FOUND) return undefined
      throw err
    }
  }
  return {
    getChunk: (cid) => store.getChunk(cid),
    getManifestBytes: (cid) => store.getManifestBytes(cid),
    haveMap: (cid) => unlessUnknown(() => store.haveMap(cid)),
  }
}

export interface ServingParts {
  offer: BwnodeConfig['offer']
  /** The offer's price in micro-credits per GiB (the ledger's unit). */
  priceMicroPerGiB: number
  ledger: Ledger
  lending: LendingAllowance
  metrics: NodeMetrics
  bandwidth: BandwidthMeter
  served: ServedByDataset
  /** Closes every connection to a peer. */
  hangUp(peer: PeerId, options: { signal: AbortSignal }): Promise<void>
}

/**
 * How this node serves: never more peers at once than offered (semaphore),
 * never faster than offered (token bucket on the uplink), and only to peers
 * that keep paying (ledger thresholds; vouchers arrive on the same stream).
 * A peer refused past the disconnect threshold loses every connection to this
 * node, not only the stream. It may dial again; its debt is still on the
 * ledger, so each request it cannot afford disconnects it again, until a
 * voucher (PAY is free) clears what it was refused. Nothing bans it.
 * Outside the lending schedule or past a byte cap, HAVE, GET and MANIFEST are refused with
 * ERR_LENDING_CLOSED; bytes count against the caps when the server commits to sending them,
 * as they are charged to the peer.
 */
export function servePolicyOf(parts: ServingParts): ServePolicy {
  const { offer, ledger, lending, metrics, bandwidth, served } = parts
  const slots = new Semaphore(offer.maxConcurrent)
  const rateBytesPerSec = (offer.uplinkMbps * 1e6) / 8
  const uplink =
    offer.uplinkMbps > 0
      ? new TokenBucket({ rateBytesPerSec, burstBytes: Math.max(64 * 1024, rateBytesPerSec * 0.05) })
      : undefined
  const price = parts.priceMicroPerGiB
  return {
    admit: () => (slots.tryAcquire() ? () => slots.release() : undefined),
    beforeHave: () => lending.check(0),
    beforeServe: (peer, bytes) => {
      // Checked before the charge, counted after it: a refused request costs the peer nothing.
      lending.check(bytes)
      if (price > 0) ledger.chargeServe(peer, bytes)
      lending.record(bytes)
    },
    disconnect: (peer) => parts.hangUp(peer, { signal: AbortSignal.timeout(HANG_UP_TIMEOUT_MS) }),
    ...(uplink === undefined
      ? {}
      : { pace: (bytes: number, signal: AbortSignal) => uplink.take(bytes, signal) }),
    onVoucher: async (peer, voucher) => {
      try {
        await ledger.acceptVoucher(peer, voucher, price)
      } catch (err) {
        if (err instanceof VoucherRejected) metrics.refusedPayments.inc({ reason: err.code })
        throw err
      }
    },
    onServed: (peer, cid, bytes) => {
      metrics.served(peer.toString(), bytes)
      bandwidth.sent(peer.toString(), bytes)
      served.record(cid.toString(), bytes)
    },
    price: () => price,
  }
}
