import type { AbortOptions, ConnectionProtector, MessageStream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type EmulatorProbe, UNDILATED } from './dilation.ts'
import {
  isTransparentPath,
  linkBetween,
  type NodeLink,
  type PathCharacteristics,
  type ResolvedLink,
  resolveLink,
} from './link.ts'
import type { LinkSwitch } from './link-switch.ts'
import { exchangePreamble } from './preamble.ts'
import { ShapedMessageStream, type ShaperOptions, SharedUplink } from './shaped-stream.ts'
import type { UplinkLoad } from './uplink-load.ts'

const log = logger('bwnode:net')

/** What one raw connection ended up emulating, reported through `onPath`. */
export interface EmulatedConnectionInfo {
  direction: MessageStream['direction']
  local: ResolvedLink
  remote: ResolvedLink
  /** The path this end shapes: local to remote. */
  outbound: PathCharacteristics
  /** False when the path adds nothing and the connection was passed through unwrapped. */
  shaped: boolean
}

export interface LinkEmulatorInit extends Omit<ShaperOptions, 'delayMs' | 'rateMbps' | 'uplink'> {
  preambleTimeoutMs?: number
  /** Wrap even a path that adds nothing (calibration measures the shaper's own cost that way). */
  alwaysShape?: boolean
  /** Shared by every connection of this emulator; see TimeDilation. */
  dilation?: { readonly factor: number }
  probe?: EmulatorProbe
  /** What this node's uplink carries besides bwnode (household traffic, its queue); see UplinkLoad. */
  load?: UplinkLoad
  /** Takes the node off the network and back (churn); see LinkSwitch. */
  linkSwitch?: LinkSwitch
  /** Called once per raw connection after the preamble, e.g. for the experiment's logs. */
  onPath?: (info: EmulatedConnectionInfo) => void
}

/**
 * A libp2p `connectionProtector` that emulates this node's network link on every connection.
 *
 * Both ends exchange their links in a short preamble (so nodes in other processes work the same),
 * then each end delays and paces only what it sends, by the path local -> remote from
 * `linkBetween`; the two directions together make up the full round trip. The node's uplink is
 * one clock shared by all its connections, so together they never send faster than it; a
 * receiver's downlink is enforced per connection (each sender paces to it), since senders in
 * other processes cannot share a clock.
 *
 * The preamble is always exchanged once the emulator is installed, even when both links are
 * zero: a node cannot know the peer's link without it, and skipping it on one end only would
 * feed the preamble into the other end's encryption handshake. Every node of a lab must
 * therefore run the emulator (a node without it is rejected with ERR_LINK_PREAMBLE_MAGIC), and a
 * node that wants no emulation at all leaves `connectionProtector` unset. When the path adds no
 * delay and no rate limit, the raw connection is returned unwrapped, so the only cost is the
 * preamble's few bytes at connect.
 *
 * Usage: `createLibp2p({ connectionProtector: createLinkEmulator(link), ... })`
 */
export function createLinkEmulator(
  localLink: NodeLink | ResolvedLink,
  init: LinkEmulatorInit = {},
): () => ConnectionProtector {
  const local = resolveLink(localLink)
  const { preambleTimeoutMs, onPath, alwaysShape = false, load, linkSwitch, ...shaperDefaults } = init
  // One uplink per node, however many connections it has.
  const uplink = Number.isFinite(local.uplinkMbps)
    ? new SharedUplink(local.uplinkMbps, init.dilation ?? UNDILATED, load)
    : undefined
  return () => ({
    async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
      if (linkSwitch !== undefined) {
        if (!linkSwitch.isUp) throw new Error('link down: the node is off the network')
        linkSwitch.track(connection)
      }
      const remote = await exchangePreamble(connection, local, { ...options, timeoutMs: preambleTimeoutMs })
      const outbound = linkBetween(local, remote)
      const shaped = alwaysShape || !isTransparentPath(outbound)
      log('%s connection: %o, shaped=%s', connection.direction, outbound, shaped)
      onPath?.({ direction: connection.direction, local, remote, outbound, shaped })
      if (!shaped) return connection
      const stream = new ShapedMessageStream(connection, {
        ...shaperDefaults,
        delayMs: outbound.oneWayDelayMs,
        rateMbps: outbound.rateMbps,
        ...(uplink === undefined ? {} : { uplink }),
      })
      deliverInFlightBytesBeforeClose(connection, stream)
      return stream
    },
  })
}

/**
 * libp2p closes a connection through the raw connection it was given, not through the stream the
 * protector returned, so bytes still in the delay line would be cut off. Make the raw close wait
 * for them first, as data in flight on a real link still arrives before the FIN.
 */
function deliverInFlightBytesBeforeClose(raw: MessageStream, shaped: ShapedMessageStream): void {
  const closeRaw = raw.close.bind(raw)
  raw.close = async (options?: AbortOptions): Promise<void> => {
    try {
      await shaped.flush(options)
    } catch {
      // aborted or timed out: close anyway, dropping what is still in flight
    }
    await closeRaw(options)
  }
}
