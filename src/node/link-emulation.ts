import type { LinkConfig } from '../config/schema.ts'
import type { NodeLink } from '../net/link.ts'
import { UplinkLoad } from '../net/uplink-load.ts'

/** The emulated link in the shape the emulator wants: 0 Mbit/s means "no cap". */
export function emulatedLink(link: LinkConfig): NodeLink {
  return {
    accessLatencyMs: link.accessLatencyMs,
    uplinkMbps: link.uplinkMbps === 0 ? Number.POSITIVE_INFINITY : link.uplinkMbps,
    downlinkMbps: link.downlinkMbps === 0 ? Number.POSITIVE_INFINITY : link.downlinkMbps,
    position: link.position,
    routeInflation: link.routeInflation,
  }
}

/** The household traffic and queue a node's link config puts on its uplink. */
export function uplinkLoadOf(link: LinkConfig): UplinkLoad {
  return new UplinkLoad({
    crossTrafficShare: link.crossTraffic?.share ?? 0,
    crossTrafficGreedy: link.crossTraffic?.greedy ?? true,
    bufferMs: link.queueMs,
  })
}
