/**
 * Calibration of the link emulator, run before any cell: if the emulator does not reproduce what
 * it is configured with, no measurement through it supports a conclusion (the report refuses).
 *
 * Checks over real bwnode nodes on 127.0.0.1:
 * - zero-delay overhead: chunk throughput between two nodes whose connections go through the
 *   shaper with zero delay and no rate cap vs two nodes with no emulator at all, interleaved round
 *   by round so both see the same machine load (the no-emulator figure is also this machine's
 *   ceiling for in-process chunk traffic, which sizes the dilation);
 * - every (rate, RTT) pair the run's cells use, at the dilation those cells start with: libp2p ping
 *   (the minimum of several) against the configured RTT, and steady-state chunk goodput (after the
 *   first chunk) against the configured rate.
 */

import { join } from 'node:path'
import type { LinkConfig } from '../config/schema.ts'
import { connectAndPing, stopAll } from '../lab/swarm.ts'
import { TimeDilation } from '../net/dilation.ts'
import { MANAGED_QUEUE_MS } from '../net/uplink-load.ts'
import type { Bwnode } from '../node/bwnode.ts'
import { median } from '../util/stats.ts'
import { startNode, type Template } from './nodes.ts'
import type { SourcePath } from './scenarios.ts'
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
  /** The (rate, RTT) pairs to check: every distinct source path of the run. */
  pairs: SourcePath[]
  /** The dilation a pair's cells start with, given this machine's measured ceiling (MB/s). */
  dilationFor: (pair: SourcePath, machineMBps: number) => number
  zeroRounds?: number
  onProgress?: (line: string) => void
  /** Stops calibration between transfers (and its nodes at once); it then rejects. */
  signal?: AbortSignal
}

const CALIBRATION_IN_FLIGHT = 16
/** Chunk sessions (yamux streams) the rate check runs at once. */
const CALIBRATION_STREAMS = 4

function zeroLink(overrides: Partial<LinkConfig> = {}): LinkConfig {
  return {
    accessLatencyMs: 0,
    uplinkMbps: 0,
    downlinkMbps: 0,
    position: { x: 0, y: 0 },
    routeInflation: 1.5,
    queueMs: MANAGED_QUEUE_MS,
    ...overrides,
  }
}

async function transferMBps(
  consumer: Bwnode,
  server: Bwnode,
  items: ReadItem[],
  which: 'total' | 'steady' = 'total',
  timeScale = 1,
  streams = 1,
): Promise<number> {
  const { lanes, close } = await sessionLanes(
    consumer.libp2p,
    Array.from({ length: streams }, (_, i) => ({
      peerId: server.peerId,
      kind: 'peer' as const,
      label: `server-${i}`,
    })),
    CALIBRATION_IN_FLIGHT,
    timeScale,
  )
  try {
    const m = await consume({ items, lanes })
    if (which === 'steady' && m.steadyBytesPerSec !== undefined) return m.steadyBytesPerSec / 1e6
    return m.bytes / m.seconds / 1e6
  } finally {
    await close()
  }
}

/** Distinct (rate, RTT) pairs, rounded so that equal links count once. */
export function distinctPairs(paths: SourcePath[]): SourcePath[] {
  const seen = new Map<string, SourcePath>()
  for (const p of paths) seen.set(`${Math.round(p.rateBytesPerSec)}@${p.rttMs.toFixed(2)}`, p)
  return [...seen.values()].sort((a, b) => a.rateBytesPerSec - b.rateBytesPerSec || a.rttMs - b.rttMs)
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

export async function calibrate(options: CalibrateOptions): Promise<Calibration> {
  const log = options.onProgress ?? (() => {})
  const dataset = options.template.datasets.get(options.datasetId)
  if (dataset === undefined) throw new Error(`calibration dataset ${options.datasetId} not in the template`)
  const items = sequentialItems(dataset.manifest)
  const dir = (name: string) => join(options.workDir, 'calibration', name)
  const nodes: Bwnode[] = []
  const dilation = new TimeDilation(1)
  const start = async (name: string, link: LinkConfig | undefined, withData: boolean) => {
    const node = await startNode({
      dataDir: dir(name),
      link,
      ...(withData ? { template: options.template } : {}),
      // alwaysShape: a zero link still goes through the shaper, so its cost is what is measured
      ...(link === undefined ? {} : { emulator: { dilation, alwaysShape: true } }),
    })
    nodes.push(node)
    return node
  }
  const notes: string[] = []
  const signal = options.signal
  let stopping: Promise<void> | undefined
  const onAbort = (): void => {
    stopping = stopAll(nodes)
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    // Zero-delay overhead, interleaved.
    const zeroClient = await start('zero-client', zeroLink(), false)
    const zeroServer = await start('zero-server', zeroLink(), true)
    const plainClient = await start('plain-client', undefined, false)
    const plainServer = await start('plain-server', undefined, true)
    await connectAndPing(zeroClient, zeroServer)
    await connectAndPing(plainClient, plainServer)
    await transferMBps(zeroClient, zeroServer, items.slice(0, 2))
    await transferMBps(plainClient, plainServer, items.slice(0, 2))
    // Machine load drifts between rounds (other work shares the cores), so both pairs transfer at
    // the same time, see the same load, and each round gives one ratio; the median ratio is kept.
    // about 256 MB a round: long enough to average over, short enough for a 512 MiB dataset
    const bulk: ReadItem[] = []
    for (let i = 0, bytes = 0; bytes < 256e6; i++) {
      const item = items[i % items.length] as ReadItem
      bulk.push(item)
      bytes += item.bytes
    }
    const rounds = options.zeroRounds ?? 7
    const zeroRates: number[] = []
    const plainRates: number[] = []
    const ratios: number[] = []
    for (let round = 0; round < rounds; round++) {
      signal?.throwIfAborted()
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

    // Every (rate, RTT) pair of the run, at its starting dilation: the server's access latency is
    // added once each way (the zero-link client adds nothing), its uplink is the pair's rate.
    const rtt: Calibration['rtt'] = []
    const rate: Calibration['rate'] = []
    for (const [i, pair] of distinctPairs(options.pairs).entries()) {
      signal?.throwIfAborted()
      const k = options.dilationFor(pair, plainMedian)
      const configuredMbps = (pair.rateBytesPerSec * 8) / 1e6
      const server = await start(
        `pair-${i}`,
        zeroLink({ accessLatencyMs: pair.rttMs / 2, uplinkMbps: configuredMbps }),
        true,
      )
      try {
        // connect in real time (libp2p's handshake timers are not dilated), then slow the links
        await connectAndPing(zeroClient, server, 1)
        dilation.factor = k
        const measuredMs = (await minimumPingMs(zeroClient, server, pair.rttMs >= 50 ? 5 : 9)) / k
        rtt.push({ configuredMs: pair.rttMs, measuredMs, dilation: k })
        const tolerance = Math.max(RTT_TOLERANCE_MS, pair.rttMs * RTT_TOLERANCE_SHARE)
        if (Math.abs(measuredMs - pair.rttMs) > tolerance) {
          notes.push(
            `RTT ${pair.rttMs.toFixed(2)} ms at K=${k} measured ${measuredMs.toFixed(2)} ms (tolerance ${tolerance.toFixed(2)} ms)`,
          )
        }
        // Steady-state goodput over at least 2 s of link time and 10 bandwidth-delay products.
        const wanted = Math.min(
          128 * 2 ** 20,
          Math.max(2 * pair.rateBytesPerSec, 10 * pair.rateBytesPerSec * (pair.rttMs / 1000), 8 * 2 ** 20),
        )
        const slice: ReadItem[] = []
        let bytes = 0
        for (let j = 0; bytes < wanted; j++) {
          const item = items[j % items.length]!
          slice.push(item)
          bytes += item.bytes
        }
        await transferMBps(zeroClient, server, items.slice(0, 1), 'total', k)
        // Several streams at once: the emulator's rate is what is calibrated, not one stream's
        // window (a single yamux stream tops out near 0.8 of 1 Gbit/s at 99 ms; see BENCHMARKS.md).
        const measuredMbps =
          (await transferMBps(zeroClient, server, slice, 'steady', k, CALIBRATION_STREAMS)) * 8 * k
        rate.push({ configuredMbps, measuredMbps, rttMs: pair.rttMs, dilation: k })
        log(
          `calibration: ${configuredMbps} Mbit/s x ${pair.rttMs.toFixed(2)} ms at K=${k}: ` +
            `measured ${measuredMbps.toFixed(1)} Mbit/s, RTT ${measuredMs.toFixed(2)} ms`,
        )
        const ratio = measuredMbps / configuredMbps
        if (ratio < RATE_MIN_RATIO || ratio > RATE_MAX_RATIO) {
          notes.push(
            `rate ${configuredMbps} Mbit/s x ${pair.rttMs.toFixed(2)} ms at K=${k} measured ${measuredMbps.toFixed(1)} (ratio ${ratio.toFixed(3)})`,
          )
        }
      } finally {
        dilation.factor = 1
        // after an abort the server was stopped with the others already
        await server.stop().catch((err: unknown) => {
          if (signal?.aborted !== true) throw err
        })
        nodes.splice(nodes.indexOf(server), 1)
      }
    }

    const passed = notes.length === 0
    return {
      zeroDelayOverheadRatio,
      machineMBps: plainMedian,
      rtt,
      rate,
      passed,
      notes: passed
        ? `Tolerances: zero-delay ratio within 1 +- ${ZERO_OVERHEAD_TOLERANCE}; RTT within max(${RTT_TOLERANCE_MS} ms, ` +
          `${RTT_TOLERANCE_SHARE * 100}%); goodput ${RATE_MIN_RATIO}-${RATE_MAX_RATIO}x the configured rate. ` +
          `Zero-delay ratio is the median of ${rounds} rounds in which both pairs moved ${(bulk.reduce((n, i) => n + i.bytes, 0) / 1e6).toFixed(1)} MB; RTT is the minimum of several libp2p pings (other load only adds delay); ` +
          "rate is steady-state chunk-protocol goodput through noise and yamux over 4 streams at once (the emulator's rate, not one stream's window); every (rate, RTT) pair of the run's cells is checked at the dilation its cells start with."
        : notes.join('; '),
    }
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await stopping
    await stopAll(nodes)
  }
}
