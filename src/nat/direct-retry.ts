import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  PeerId,
  PeerStore,
  TypedEventTarget,
} from '@libp2p/interface'
import { isPrivate } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'

/** How long after a relayed connection opens the retry waits: DCUtR goes first, ms. */
const RETRY_AFTER_MS = 2_000
/** The direct dial's limit, ms. */
const DIAL_TIMEOUT_MS = 3_000

interface DirectRetryComponents {
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  peerStore: PeerStore
  connectionManager: {
    getConnections(peer?: PeerId): Connection[]
    openConnection(
      addrs: Multiaddr[],
      options?: { signal?: AbortSignal; force?: boolean },
    ): Promise<Connection>
  }
}

/**
 * A relayed connection to a peer that has a public address (a mapped or forwarded port) should
 * not stay relayed. DCUtR tries once, as the connection opens, and that try can lose a race
 * (both ends dialing at once, the other end reconnecting): a short while later, if the peer is
 * still reached only through the relay, this dials its public TCP addresses once, and closes
 * the relayed connection when that works.
 */
export class DirectRetry {
  private readonly components: DirectRetryComponents
  private readonly log: ReturnType<ComponentLogger['forComponent']>
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  constructor(components: DirectRetryComponents) {
    this.components = components
    this.log = components.logger.forComponent('bwnode:nat:direct-retry')
  }

  readonly [Symbol.toStringTag] = 'bwnode:direct-retry'

  start(): void {
    this.components.events.addEventListener('connection:open', this.onOpen)
  }

  stop(): void {
    this.components.events.removeEventListener('connection:open', this.onOpen)
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  private readonly onOpen = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    if (connection.direct) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.retry(connection.remotePeer).catch((err: unknown) =>
        this.log('direct dial to %p failed: %s', connection.remotePeer, (err as Error).message),
      )
    }, RETRY_AFTER_MS)
    timer.unref?.()
    this.timers.add(timer)
  }

  private async retry(peer: PeerId): Promise<void> {
    const connections = this.components.connectionManager.getConnections(peer)
    if (connections.length === 0 || connections.some((c) => c.direct)) return
    const stored = await this.components.peerStore.get(peer).catch(() => undefined)
    const addrs = (stored?.addresses ?? [])
      .map((a) => a.multiaddr)
      .filter((addr) => TCP.exactMatch(addr.decapsulateCode(421)) && !isPrivate(addr))
    if (addrs.length === 0) return
    this.log('still relayed to %p: dialing %a', peer, addrs)
    const direct = await this.components.connectionManager.openConnection(addrs, {
      signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
      force: true,
    })
    if (!direct.direct) return
    for (const relayed of connections) if (!relayed.direct) await relayed.close().catch(() => {})
  }
}
