import type { NodeStatus } from '../contract/api.ts'
import type { NodePart } from './lifecycle.ts'

/** kad-dht's event when a self-query finished, dispatched on libp2p's event bus. */
const SELF_QUERY_EVENT = 'kad-dht:query:self'

/**
 * When the node joined the DHT: the end of kad-dht's first self-query, timed from the start of
 * the node (a new node's first lookups wait for it). Listens from before libp2p starts.
 */
export class DhtJoinWatch implements NodePart {
  readonly name = 'dht-join'
  /** libp2p's types list only its own events; kad-dht's go through the same bus. */
  private readonly bus: EventTarget
  private startedAt = 0
  private firstJoin: NodeStatus['dhtJoined'] = null

  constructor(libp2pEvents: object) {
    this.bus = libp2pEvents as EventTarget
  }

  get joined(): NodeStatus['dhtJoined'] {
    return this.firstJoin
  }

  start(): void {
    this.startedAt = Date.now()
    this.bus.addEventListener(SELF_QUERY_EVENT, this.onSelfQuery)
  }

  stop(): void {
    this.bus.removeEventListener(SELF_QUERY_EVENT, this.onSelfQuery)
  }

  private readonly onSelfQuery = (evt: Event): void => {
    const { peers } = (evt as CustomEvent<{ peers: number }>).detail
    this.firstJoin ??= { afterSeconds: (Date.now() - this.startedAt) / 1000, peersFound: peers }
  }
}
