import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { parseWindow } from '../lending/schedule.ts'
import { DEFAULT_MIN_FREE_BYTES } from '../store/constants.ts'
import { DEFAULT_PRICE_PER_GIB, DEFAULT_UPLINK_MBPS } from './defaults.ts'

/**
 * The node's configuration. Every field has a default, so `{}` is a valid
 * config; unknown fields are errors (a typo must not be silently ignored).
 */

const multiaddrString = z.string().refine(
  (value) => {
    try {
      multiaddr(value)
      return true
    } catch {
      return false
    }
  },
  { message: 'not a valid multiaddr' },
)

/** A bootstrap address must name the peer, or the node cannot authenticate it. */
const bootstrapAddr = multiaddrString.refine((value) => value.includes('/p2p/'), {
  message: 'bootstrap multiaddr must end in /p2p/<peerId>',
})

const port = z.number().int().min(0).max(65535)

/** A host name or IP address, no scheme or port: what a Host header names. */
const hostName = z
  .string()
  .max(255)
  .refine(
    (value) =>
      /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value) ||
      isIP(value.replace(/^\[(.*)\]$/, '$1')) !== 0,
    { message: 'must be a host name or IP address, without scheme or port' },
  )

/** A serving window, "HH:MM-HH:MM" in local time (see src/lending/schedule.ts). */
const servingWindow = z.string().superRefine((value, ctx) => {
  try {
    parseWindow(value)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

/** Most serving windows a schedule may list. */
export const MAX_SERVING_WINDOWS = 24

/** See connections.maxStreamWindowBytes: twice 1 Gbit/s x 150 ms, room for what queues behind it. */
export const DEFAULT_MAX_STREAM_WINDOW_BYTES = 32 * 1024 * 1024

export const linkSchema = z.strictObject({
  /** Last-mile latency added once at this end, one way (ms). */
  accessLatencyMs: z.number().min(0).max(10_000).default(0),
  /** 0 means unlimited. */
  uplinkMbps: z.number().min(0).default(0),
  downlinkMbps: z.number().min(0).default(0),
  /** Position on a plane, in km: distance between nodes is the Euclidean distance. */
  position: z.strictObject({ x: z.number(), y: z.number() }).default({ x: 0, y: 0 }),
  /** Fibre path length / straight-line distance (CLAIM.md: ~1.3 to ~2.1). */
  routeInflation: z.number().min(1).max(5).default(1.5),
  /**
   * The uplink's bottleneck buffer above the bandwidth-delay product, in ms at its rate: 5 is a
   * managed queue (CoDel's target), 50-100 a bloated home router (M-Lab). See src/net/uplink-load.ts.
   */
  queueMs: z.number().min(0).max(5_000).default(5),
  /** Household traffic on the same uplink: the share of its rate it takes, and whether it is a
   * greedy upload that keeps the buffer full (a standing queue of queueMs for every byte). */
  crossTraffic: z
    .strictObject({
      share: z.number().min(0).max(0.95),
      greedy: z.boolean().default(true),
    })
    .optional(),
})

export const configSchema = z.strictObject({
  /** Where the identity, LevelDB and chunk files live. */
  dataDir: z.string().min(1).default('.bwnode'),
  listen: z.array(multiaddrString).default(['/ip4/127.0.0.1/tcp/0']),
  /** Addresses to tell peers instead of the listen ones (NAT, port forwarding). */
  announce: z.array(multiaddrString).default([]),
  bootstrap: z.array(bootstrapAddr).default([]),
  /** Find peers on the local network by multicast DNS. */
  mdns: z.boolean().default(false),
  api: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      /**
       * Absent: the port chosen once for the data dir and remembered in <data>/api-port (any free
       * port for one run when that one is taken). 0: any free port, every run. Else exactly this.
       */
      port: port.optional(),
      /** Binding the API to a non-loopback host needs this set explicitly. */
      allowRemote: z.boolean().default(false),
      /**
       * Host names the API answers to, on any port, besides loopback, `host` and the
       * address a request arrived on (e.g. a reverse proxy's name). Any other Host
       * header is refused: that is what stops DNS rebinding.
       */
      allowedHosts: z.array(hostName).max(64).default([]),
    })
    .prefault({}),
  connections: z
    .strictObject({
      maxConnections: z.number().int().min(1).default(300),
      /** Inbound connections per host per second; a lab bootstraps many nodes from one host at once. */
      inboundPerHostPerSecond: z.number().int().min(1).default(100),
      dialTimeoutMs: z.number().int().min(100).default(10_000),
      /**
       * Largest yamux receive window per stream, bytes. One stream moves at most a window per
       * round trip, so this must exceed the bandwidth-delay product of the longest, fattest link
       * the node fetches over (1 Gbit/s x 150 ms is 18.75 MB); yamux grows each stream's window
       * from 256 KiB up to this as data flows, so idle streams cost nothing.
       */
      maxStreamWindowBytes: z
        .number()
        .int()
        .min(256 * 1024)
        .max(2 ** 32 - 1)
        .default(DEFAULT_MAX_STREAM_WINDOW_BYTES),
    })
    .prefault({}),
  store: z
    .strictObject({
      chunkSizeBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .max(4 * 1024 * 1024)
        .default(1024 * 1024),
      reprovideIntervalMs: z.number().int().min(1000).default(3_600_000),
      /** Free space kept on the data dir's disk for the database; chunk writes stop short of it. */
      minFreeBytes: z.number().int().min(0).default(DEFAULT_MIN_FREE_BYTES),
    })
    .prefault({}),
  offer: z
    .strictObject({
      /** Spare uplink lent to peers (Mbit/s); the server never serves faster. 0 = no cap. */
      uplinkMbps: z.number().min(0).default(DEFAULT_UPLINK_MBPS),
      maxConcurrent: z.number().int().min(1).max(1024).default(8),
      pricePerGiB: z.number().min(0).default(DEFAULT_PRICE_PER_GIB),
      ttlMs: z.number().int().min(10_000).default(3_600_000),
    })
    .prefault({}),
  /**
   * How much and when the node lends to peers, for a home line with a data plan: bytes served
   * per local calendar day and month, and the times of day it serves at all.
   */
  lending: z
    .strictObject({
      /** Bytes served to peers per local day; 0 = no cap. */
      dailyCapBytes: z.number().int().min(0).default(0),
      /** Bytes served to peers per local calendar month; 0 = no cap. */
      monthlyCapBytes: z.number().int().min(0).default(0),
      /** Windows of the day it serves in, local time ("01:00-07:00"; may cross midnight); [] = always. */
      schedule: z.array(servingWindow).max(MAX_SERVING_WINDOWS).default([]),
    })
    .prefault({}),
  ledger: z
    .strictObject({
      grantCredits: z.number().min(0).default(1000),
      /**
       * Unpaid bytes tolerated per peer. Must exceed what a paying client has in
       * flight (window x chunk size: up to 64 x 1 MiB) or honest clients stall.
       */
      paymentThresholdBytes: z
        .number()
        .int()
        .min(0)
        .default(128 * 1024 * 1024),
      disconnectThresholdBytes: z
        .number()
        .int()
        .min(0)
        .default(512 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * Getting through NAT routers (src/nat/). Runs only when the node listens on a non-loopback
   * address: a loopback-only node has no router to map a port on and no peer outside to reach.
   */
  nat: z
    .strictObject({
      /** Reserve a slot on relays among the peers and advertise the `/p2p-circuit` address. */
      relayClient: z.boolean().default(true),
      /** DCUtR: turn a relayed connection direct where the NATs allow, dialing from the listen port. */
      holePunching: z.boolean().default(true),
      /** Ask the router (UPnP IGD) to map the listen port. */
      upnp: z.boolean().default(true),
      /** AutoNAT v2: ask peers to dial back, so the node learns which addresses are reachable. */
      autonat: z.boolean().default(true),
    })
    .prefault({}),
  /**
   * Serving as a circuit relay v2 for nodes behind NAT (opt-in: only on a publicly reachable
   * node). 0 means no limit for the per-circuit caps: a limited circuit is closed when the cap is
   * reached, mid-chunk, and the fetch moves on to other providers or redials.
   */
  relay: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** Nodes holding a reservation (a slot to be reached through) at once. */
      maxReservations: z.number().int().min(1).max(10_000).default(64),
      /** How long a reservation lasts before the node must renew it, ms (libp2p renews it). */
      reservationTtlMs: z
        .number()
        .int()
        .min(60_000)
        .default(2 * 3_600_000),
      /** Bytes one relayed connection may carry, each direction summed; 0 = unlimited. */
      maxCircuitBytes: z.number().int().min(0).default(0),
      /** How long one relayed connection may stay open, ms; 0 = unlimited. */
      maxCircuitDurationMs: z.number().int().min(0).default(0),
    })
    .prefault({}),
  latency: z
    .strictObject({
      pingIntervalMs: z.number().int().min(100).default(15_000),
    })
    .prefault({}),
  /** Emulated link for labs; absent on real machines. */
  link: linkSchema.optional(),
})

export type BwnodeConfig = z.infer<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
export type LinkConfig = z.infer<typeof linkSchema>
