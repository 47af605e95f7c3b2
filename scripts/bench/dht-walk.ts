import type { PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

/** The CID a DHT benchmark provides and looks up for a key: the raw sha-256 of its text. */
export async function keyCid(key: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(key)))
}

/** One DHT request of a walk: to whom, and how long its answer took (ms). */
export interface WalkQuery {
  peer: string
  ms: number
}

export interface FirstProvider {
  /** From the start of the walk to the first provider named, ms. */
  ms: number
  /** Hops to the peer whose answer named it: the walk's start peers are hop 1; 0 when the node held the record itself. */
  hops: number
  /** The requests answered until then, each timed from its send to its answer. */
  queries: WalkQuery[]
}

/**
 * Walks for providers of cid and reports the time to the first one and its hop count: peers from
 * the local routing table are hop 1, a peer learned from a hop-n peer's reply is hop n+1; the hop
 * of the peer whose reply named the provider is the figure.
 */
export async function findFirstProvider(
  dht: KadDHT,
  self: PeerId,
  cid: CID,
  timeoutMs: number,
): Promise<FirstProvider> {
  const selfId = self.toString()
  const depth = new Map<string, number>()
  const sentAt = new Map<string, number>()
  const queries: WalkQuery[] = []
  const started = performance.now()
  const found = (hops: number): FirstProvider => ({ ms: performance.now() - started, hops, queries })
  for await (const event of dht.findProviders(cid, { signal: AbortSignal.timeout(timeoutMs) })) {
    if (event.name === 'SEND_QUERY') sentAt.set(event.to.toString(), performance.now())
    if (event.name === 'PEER_RESPONSE') {
      const id = event.from.toString()
      const sent = sentAt.get(id)
      if (sent !== undefined) queries.push({ peer: id, ms: performance.now() - sent })
      const from = depth.get(id) ?? 1
      for (const peer of event.closer) {
        const closer = peer.id.toString()
        if (!depth.has(closer)) depth.set(closer, from + 1)
      }
      if (event.providers.length > 0) return found(from)
    }
    if (event.name === 'PROVIDER') {
      const from = event.from.toString()
      return found(from === selfId ? 0 : (depth.get(from) ?? 1))
    }
  }
  throw new Error(`no provider found for ${cid}`)
}
