import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { api, type DaemonProcess, readApiFile, startDaemonProcess, tempDir } from '../helpers/daemon.ts'
import { jainIndex, processMemory, resetPeakRss, SOAK, waitForAnnounced } from '../helpers/hostile.ts'
import {
  randomDataset,
  readTree,
  settleTransfer,
  startNode,
  stopQuietly,
  warmRoutingTable,
} from '../helpers/swarm.ts'

/**
 * Many downloaders, one provider: the provider runs as its own process (so its memory is its
 * own), offers an uplink of R Mbit/s to up to 16 peers at once, and 16 in-process nodes fetch
 * the same dataset from it at the same moment.
 */
const DOWNLOADERS = SOAK ? 32 : 16
/** Low enough that the cap, not two shared cores, is the bottleneck (fairness is then the bucket's). */
const UPLINK_MBPS = 16
const CHUNK = 64 * 1024
/** Dataset per downloader (FILES x FILE_BYTES): the whole run takes seconds at R. */
const FILES = SOAK ? 8 : 4
const FILE_BYTES = 256 * 1024
/**
 * Documented bound (docs/LIMITS.md, "Worst case per node"): serving memory beyond the idle
 * process is at most maxConcurrent x (prefetch + 1) frames plus per-stream buffers, plus the
 * yamux windows of every connection. For 16 streams of 64 KiB chunks that is well under 64 MiB;
 * the test allows 96 MiB of growth over the idle process to leave room for V8's heap growth.
 */
const MAX_RSS_GROWTH_BYTES = 96 * 1024 * 1024

describe('load: many downloaders, one capped provider', () => {
  const dirs: string[] = []
  let provider: DaemonProcess | undefined
  const downloaders: Bwnode[] = []

  afterAll(async () => {
    await Promise.allSettled(downloaders.map((node) => stopQuietly(node)))
    await provider?.stop('SIGTERM')
    await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it(`${DOWNLOADERS} downloaders all finish, memory stays bounded, and the cap is shared fairly`, async () => {
    const providerDir = await tempDir('bwnode-load-provider-')
    dirs.push(providerDir)
    const configFile = join(providerDir, 'config.json')
    await writeFile(
      configFile,
      JSON.stringify({
        offer: { uplinkMbps: UPLINK_MBPS, maxConcurrent: Math.max(16, DOWNLOADERS), pricePerGiB: 0 },
        latency: { pingIntervalMs: 60_000 },
      }),
    )
    provider = await startDaemonProcess(['--config', configFile], providerDir, 90_000)
    const pid = provider.child.pid as number
    const handle = await readApiFile(providerDir)
    const source = await randomDataset(providerDir, 'load-data', FILES, FILE_BYTES)
    const info = await api<{ cid: string; bytes: number }>(handle, 'POST', '/api/datasets', {
      path: source,
      chunkSize: CHUNK,
    })
    const bootstrap = `${provider.listen[0]}/p2p/${provider.peerId}`

    for (let i = 0; i < DOWNLOADERS; i++) {
      const dir = await tempDir('bwnode-load-dl-')
      dirs.push(dir)
      downloaders.push(await startNode(dir, { offer: { uplinkMbps: 0 } }, [bootstrap]))
    }
    // The provider announces once it has peers; fetch only after it has.
    await waitForAnnounced(handle, info.cid, 'provider announcing the dataset')
    // Each downloader's first DHT query waits for kad-dht's first self-query: done here, before the
    // clock, so that the fetches start together instead of seconds apart (a fetch started alone
    // takes the whole cap, and the rates compared would be the start times', not the provider's).
    await Promise.all(downloaders.map((node) => warmRoutingTable(node, AbortSignal.timeout(20_000))))
    // Idle memory with every peer connected, then measure the peak from here on.
    await new Promise((r) => setTimeout(r, 500))
    const idle = await processMemory(pid)
    const peakReset = await resetPeakRss(pid)

    const outs = downloaders.map((_, i) => join(dirs[i + 1] as string, 'out'))
    const transfers = downloaders.map((node, i) =>
      node.datasets.startFetch(info.cid, { out: outs[i] as string, seed: false }),
    )
    const done = await Promise.all(downloaders.map((node, i) => settleTransfer(node, transfers[i]!.id)))
    const after = await processMemory(pid)

    for (const transfer of done) {
      expect(transfer.error).toBeNull()
      expect(transfer.result?.bytes).toBe(info.bytes)
    }
    const expected = await readTree(source)
    for (const out of outs) expect(await readTree(out)).toEqual(expected)

    const rates = done.map((t) => (t.result?.bytes ?? 0) / (t.result?.seconds ?? 1))
    const jain = jainIndex(rates)
    const aggregateMbps = (rates.reduce((a, b) => a + b, 0) * 8) / 1e6
    const peak = peakReset ? after.peakRssBytes : Math.max(after.rssBytes, idle.rssBytes)
    const growth = peak - idle.rssBytes
    console.log(
      `load: ${DOWNLOADERS} downloaders x ${info.bytes} B at R=${UPLINK_MBPS} Mbit/s: Jain ${jain.toFixed(3)}, ` +
        `per-downloader ${(Math.min(...rates) / 1e6).toFixed(2)}..${(Math.max(...rates) / 1e6).toFixed(2)} MB/s, ` +
        `sum of rates ${aggregateMbps.toFixed(1)} Mbit/s, provider RSS idle ${(idle.rssBytes / 2 ** 20).toFixed(0)} MiB, ` +
        `peak ${(peak / 2 ** 20).toFixed(0)} MiB (growth ${(growth / 2 ** 20).toFixed(0)} MiB, peak reset ${peakReset})`,
    )
    expect(jain).toBeGreaterThanOrEqual(0.9)
    expect(growth).toBeLessThanOrEqual(MAX_RSS_GROWTH_BYTES)
    // Nobody got more than the whole cap: the bucket holds for all streams together (25% slack
    // for the burst allowance and for fetches that overlap only partly).
    for (const rate of rates) expect((rate * 8) / 1e6).toBeLessThanOrEqual(UPLINK_MBPS * 1.25)
  })
})
