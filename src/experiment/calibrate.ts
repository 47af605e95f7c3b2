/**
 * Calibration of the link emulator, run before any cell: if the emulator does not reproduce what
 * it is configured with, no measurement through it supports a conclusion (the report refuses).
 *
 * Three checks over real bwnode nodes on 127.0.0.1:
 * - zero-delay overhead: chunk throughput between two nodes whose emulated links are zero vs two
 *   nodes with no emulator at all, interleaved round by round so both see the same machine load;
 * - RTT: libp2p ping from a zero-link node to nodes whose access latency makes the configured RTT;
 * - rate: chunk goodput from nodes whose uplink is capped.
 */
import { join } from 'node:path'
import type { LinkConfig } from '../config/schema.ts'
import type { Bwnode } from '../node/bwnode.ts'
import { connect, startNode, stopAll, type Template } from './nodes.ts'
import type { Calibration } from './types.ts'
import { consume, type ReadItem, sequentialItems, sessionLanes } from './workloads.ts'

/** Zero-delay throughput may differ from no emulator by this share either way (noise included). */
export const ZERO_OVERHEAD_TOLERANCE = 0.25
/** Measured RTT may miss the configured one by this many ms, or this share, whichever is larger. */
export const RTT_TOLERANCE_MS = 2
export const RTT_TOLERANCE_SHARE = 0.1
/** Measured goodput must land within this band of the configured rate (framing costs a few %). */
export const RATE_MIN_RATIO = 0.8
export const RATE_MAX_RATIO = 1.1

export interface CalibrateOptions {
  workDir: string
  template: Template
  /** Dataset (from the template) whose chunks are transferred. */
  datasetId: string
  rttsMs?: number[]
  ratesMbps?: number[]
  zeroRounds?: number
  onProgress?: (line: string) => void
}

const CALIBRATION_IN_FLIGHT = 16

function zeroLink(overrides: Partial<LinkConfig> = {}): LinkConfig {
  return {
    accessLatencyMs: 0,
    uplinkMbps: 0,
    downlinkMbps: 0,
    position: { x: 0, y: 0 },
    routeInflation: 1.5,
    ...overrides,
  }
}

async function transferMBps(consumer: Bwnode, server: Bwnode, items: ReadItem[]): Promise<number> {
  const { lanes, close } = await sessionLanes(
    consumer.libp2p,
    [{ peerId: server.peerId, kind: 'peer', label: 'server' }],
    CALIBRATION_IN_FLIGHT,
  )
  try {
    const m = await consume({ items, lanes })
    return m.bytes / m.seconds / 1e6
  } finally {
    await close()
  }
}

/**
 * The smallest of `count` pings (libp2p ping times the echo itself, after the stream is open). Load
 * from other work on the machine only ever adds delay, so the minimum is the emulated delay plus the
 * stack's own floor.
 */
async function minimumPingMs(client: Bwnode, server: Bwnode, count: number): Promise<number> {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < count; i++) best = Math.min(best, await client.libp2p.services.ping.ping(server.peerId))
  return best
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

export async function calibrate(options: CalibrateOptions): Promise<Calibration> {
  const log = options.onProgress ?? (() => {})
  const dataset = options.template.datasets.get(options.datasetId)
  if (dataset === undefined) throw new Error(`calibration dataset ${options.datasetId} not in the template`)
  const items = sequentialItems(dataset.manifest)
  const dir = (name: string) => join(options.workDir, 'calibration', name)
  const nodes: Bwnode[] = []
  const start = async (name: string, link: LinkConfig | undefined, withData: boolean) => {
    const node = await startNode({
      dataDir: dir(name),
      link,
      ...(withData ? { template: options.template } : {}),
    })
    nodes.push(node)
    return node
  }
  const notes: string[] = []
  try {
    // Zero-delay overhead, interleaved.
    const zeroClient = await start('zero-client', zeroLink(), false)
    const zeroServer = await start('zero-server', zeroLink(), true)
    const plainClient = await start('plain-client', undefined, false)
    const plainServer = await start('plain-server', undefined, true)
    await connect(zeroClient, zeroServer)
    await connect(plainClient, plainServer)
    await transferMBps(zeroClient, zeroServer, items.slice(0, 2))
    await transferMBps(plainClient, plainServer, items.slice(0, 2))
    // Machine load drifts between rounds (other work shares the cores), so both pairs transfer at
    // the same time, see the same load, and each round gives one ratio; the median ratio is kept.
    const bulk = [...items, ...items]
    const rounds = options.zeroRounds ?? 7
    const zeroRates: number[] = []
    const plainRates: number[] = []
    const ratios: number[] = []
    for (let round = 0; round < rounds; round++) {
      const [z, p] = await Promise.all([
        transferMBps(zeroClient, zeroServer, bulk),
        transferMBps(plainClient, plainServer, bulk),
      ])
      zeroRates.push(z)
      plainRates.push(p)
      if (p > 0) ratios.push(z / p)
    }
    const plainMedian = median(plainRates)
    const zeroDelayOverheadRatio = ratios.length > 0 ? median(ratios) : 0
    log(
      `calibration: zero-delay link ${median(zeroRates).toFixed(1)} MB/s / no emulator ${plainMedian.toFixed(1)} MB/s = ${zeroDelayOverheadRatio.toFixed(3)}`,
    )
    const zeroOk = Math.abs(zeroDelayOverheadRatio - 1) <= ZERO_OVERHEAD_TOLERANCE
    if (!zeroOk)
      notes.push(
        `zero-delay overhead ratio ${zeroDelayOverheadRatio.toFixed(3)} outside 1 +- ${ZERO_OVERHEAD_TOLERANCE}`,
      )

    // RTT: the server's access latency is added once each way; the zero-link client adds nothing.
    const rtt: Calibration['rtt'] = []
    for (const configuredMs of options.rttsMs ?? [1, 20, 100]) {
      const server = await start(
        `rtt-${configuredMs}`,
        zeroLink({ accessLatencyMs: configuredMs / 2 }),
        false,
      )
      await connect(zeroClient, server, 1)
      const measuredMs = await minimumPingMs(zeroClient, server, configuredMs >= 50 ? 5 : 9)
      rtt.push({ configuredMs, measuredMs })
      log(`calibration: RTT configured ${configuredMs} ms, measured ${measuredMs.toFixed(2)} ms`)
      const tolerance = Math.max(RTT_TOLERANCE_MS, configuredMs * RTT_TOLERANCE_SHARE)
      if (Math.abs(measuredMs - configuredMs) > tolerance) {
        notes.push(`RTT ${configuredMs} ms measured ${measuredMs.toFixed(2)} ms (tolerance ${tolerance} ms)`)
      }
      await server.stop()
      nodes.splice(nodes.indexOf(server), 1)
    }

    // Rate: goodput of chunk transfers from a capped uplink.
    const rate: Calibration['rate'] = []
    for (const configuredMbps of options.ratesMbps ?? [25, 100]) {
      const server = await start(`rate-${configuredMbps}`, zeroLink({ uplinkMbps: configuredMbps }), true)
      await connect(zeroClient, server, 1)
      // At least ~1 s of transfer so the token bucket's burst does not dominate.
      const wanted = (configuredMbps * 1e6) / 8
      const slice: ReadItem[] = []
      let bytes = 0
      for (let i = 0; bytes < wanted; i++) {
        const item = items[i % items.length]!
        slice.push(item)
        bytes += item.bytes
      }
      await transferMBps(zeroClient, server, items.slice(0, 1))
      const measuredMbps = (await transferMBps(zeroClient, server, slice)) * 8
      rate.push({ configuredMbps, measuredMbps })
      log(`calibration: rate configured ${configuredMbps} Mbit/s, measured ${measuredMbps.toFixed(1)} Mbit/s`)
      const ratio = measuredMbps / configuredMbps
      if (ratio < RATE_MIN_RATIO || ratio > RATE_MAX_RATIO) {
        notes.push(
          `rate ${configuredMbps} Mbit/s measured ${measuredMbps.toFixed(1)} (ratio ${ratio.toFixed(3)})`,
        )
      }
      await server.stop()
      nodes.splice(nodes.indexOf(server), 1)
    }

    const passed = notes.length === 0
    return {
      zeroDelayOverheadRatio,
      rtt,
      rate,
      passed,
      notes: passed
        ? `Tolerances: zero-delay ratio within 1 +- ${ZERO_OVERHEAD_TOLERANCE}; RTT within max(${RTT_TOLERANCE_MS} ms, ` +
          `${RTT_TOLERANCE_SHARE * 100}%); goodput ${RATE_MIN_RATIO}-${RATE_MAX_RATIO}x the configured rate. ` +
          `Zero-delay ratio is the median of ${rounds} rounds in which both pairs moved ${(bulk.reduce((n, i) => n + i.bytes, 0) / 1e6).toFixed(1)} MB; RTT is the minimum of several libp2p pings (other load only adds delay); ` +
          'rate is chunk-protocol goodput through noise and yamux.'
        : notes.join('; '),
    }
  } finally {
    await stopAll(nodes)
  }
}
