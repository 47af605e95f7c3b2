/**
 * Scheduling cells: a consumer that has just joined the network finds the cell's providers the
 * way a node does, with a DHT provider lookup, inside the timed run. DhtDiscovery walks the DHT,
 * passes on only the cell's providers (the lab's other nodes hold the datasets too, and records of
 * peers that left linger), and keeps when the first and the last of them turned up.
 */
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { connect, warmRoutingTable } from '../lab/swarm.ts'
import type { Bwnode } from '../node/bwnode.ts'
import { DHT_PROTOCOL } from '../node/libp2p.ts'
import { waitFor } from '../util/poll.ts'

export interface DiscoveryTimes {
  /** ms from the start of the walk to the first of the wanted providers. */
  firstProviderMs: number
  /** ms to the last of them, when every one was found. */
  allProvidersMs?: number
  providersFound: number
}

export class DhtDiscovery {
  private started: number | undefined
  private firstAt: number | undefined
  private allAt: number | undefined
  private found = 0

  private readonly node: Bwnode
  private readonly cid: CID
  private readonly wanted: ReadonlySet<string>

  /** `wanted`: the providers to pass on (the cell's), by node. */
  constructor(node: Bwnode, cid: CID, wanted: Iterable<{ peerId: PeerId }>) {
    this.node = node
    this.cid = cid
    this.wanted = new Set([...wanted].map((provider) => provider.peerId.toString()))
  }

  /**
   * The wanted providers as the walk finds them. The clock starts at the first call; the walk
   * ends once every wanted provider is found, when the caller stops reading, or on `signal`.
   */
  async *providers(signal: AbortSignal): AsyncGenerator<PeerId> {
    this.started ??= performance.now()
    const walk = new AbortController()
    const stop = () => walk.abort()
    signal.addEventListener('abort', stop, { once: true })
    const seen = new Set<string>()
    try {
      for await (const provider of this.node.libp2p.contentRouting.findProviders(this.cid, {
        signal: walk.signal,
      })) {
        const key = provider.id.toString()
        if (!this.wanted.has(key) || seen.has(key)) continue
        seen.add(key)
        this.found = seen.size
        this.firstAt ??= performance.now()
        if (seen.size === this.wanted.size) this.allAt = performance.now()
        yield provider.id
        if (seen.size === this.wanted.size) return
      }
    } finally {
      signal.removeEventListener('abort', stop)
      walk.abort()
    }
  }

  /** Walks until every wanted provider is found; throws, saying how many were, when not. */
  async findAll(signal: AbortSignal): Promise<void> {
    let found = 0
    for await (const _provider of this.providers(signal)) found++
    if (found < this.wanted.size)
      throw new Error(`the DHT lookup found ${found} of the cell's ${this.wanted.size} providers`)
  }

  /** The walk's times, divided by the run's dilation; undefined before a provider was found. */
  times(dilation: number): DiscoveryTimes | undefined {
    if (this.started === undefined || this.firstAt === undefined) return undefined
    return {
      firstProviderMs: (this.firstAt - this.started) / dilation,
      ...(this.allAt === undefined ? {} : { allProvidersMs: (this.allAt - this.started) / dilation }),
      providersFound: this.found,
    }
  }

  /** ms since the walk started, undilated; 0 before it did. */
  elapsedMs(dilation: number): number {
    return this.started === undefined ? 0 : (performance.now() - this.started) / dilation
  }
}

/**
 * Joins `node` to the network through `bootstrap` as a fresh node does from its config: one dial;
 * the DHT learns the peer once identify has told it the peer speaks the DHT protocol; then a
 * lookup of the node's own key, which waits for kad-dht's first self-query (every query of a new
 * node waits for it) and fills the routing table as a node that has run for a while has it.
 * Returns how long that took, ms: the one-time cost of a fresh node's first lookup.
 */
export async function joinThrough(node: Bwnode, bootstrap: Bwnode, signal?: AbortSignal): Promise<number> {
  const started = performance.now()
  await connect(node, bootstrap)
  await waitFor(
    async () => {
      const peer = await node.libp2p.peerStore.get(bootstrap.peerId).catch(() => undefined)
      return peer?.protocols.includes(DHT_PROTOCOL) === true ? true : undefined
    },
    {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: `identify from the bootstrap ${bootstrap.peerId}`,
      ...(signal === undefined ? {} : { signal }),
    },
  )
  await warmRoutingTable(
    node,
    AbortSignal.any([AbortSignal.timeout(JOIN_LOOKUP_TIMEOUT_MS), ...(signal === undefined ? [] : [signal])]),
  )
  return performance.now() - started
}

/** The joining node's own-key lookup gives up after this long, ms (kad-dht's self-query: 5 s). */
const JOIN_LOOKUP_TIMEOUT_MS = 10_000
