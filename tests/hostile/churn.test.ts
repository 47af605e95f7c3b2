import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import type { TransferInfo } from '../../src/contract/api.ts'
import { Bwnode } from '../../src/node/bwnode.ts'
import { parseDatasetCid } from '../../src/store/cid.ts'
import { seededRandom } from '../../src/util/random.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { SOAK } from '../helpers/hostile.ts'
import {
  addOnAll,
  dialAddr,
  randomDataset,
  readTree,
  type Swarm,
  settleTransfer,
  startSwarm,
  stopQuietly,
} from '../helpers/swarm.ts'

/**
 * Churn: a lab of 12 in-process nodes (1 bootstrap, 6 providers, 5 fetchers). While the
 * fetchers download, providers are stopped and restarted at random (same data dir, same port,
 * like a daemon restarted by its owner), never all at once: one provider of every chunk always
 * lives. Every fetch must end with the right bytes. A fetch that fails with ERR_NO_PROVIDERS
 * (every provider it found was down at that moment) is retried, as a user would; anything else
 * fails the test. Afterwards the DHT heals: every restarted provider is found again.
 */
const PROVIDERS = 6
const FETCHERS = 5
const DATASETS = SOAK ? 6 : 3
const ROUNDS = SOAK ? 3 : 1
const CHUNK = 64 * 1024
const PROVIDER_UPLINK_MBPS = 16
const MAX_ATTEMPTS = 8

interface ProviderSlot {
  dataDir: string
  port: number
  node: Bwnode | undefined
  restarts: number
}

describe('churn: providers stop and restart at random during fetches', () => {
  let swarm: Swarm
  const slots: ProviderSlot[] = []
  const extraDirs: string[] = []

  afterAll(async () => {
    await Promise.allSettled(slots.map((slot) => (slot.node ? stopQuietly(slot.node) : undefined)))
    await swarm?.stop()
    await Promise.allSettled(extraDirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it('every fetch completes with correct bytes, and restarted providers are found again', async () => {
    const seed = Number(process.env.BWNODE_CHURN_SEED ?? 20261124)
    // Deterministic randomness so a failing schedule can be replayed from its seed.
    const random = seededRandom(seed)
    swarm = await startSwarm(1 + PROVIDERS + FETCHERS, (i) =>
      i >= 1 && i <= PROVIDERS ? { offer: { uplinkMbps: PROVIDER_UPLINK_MBPS } } : {},
    )
    const bootstrap = dialAddr(swarm.bootstrap)
    const providers = swarm.nodes.slice(1, 1 + PROVIDERS)
    const fetchers = swarm.nodes.slice(1 + PROVIDERS)
    for (const node of providers) {
      slots.push({
        dataDir: node.dataDir,
        port: Number(dialAddr(node).split('/')[4]),
        node,
        restarts: 0,
      })
    }

    const work = await tempDir('bwnode-churn-data-')
    extraDirs.push(work)
    const datasets: Array<{ source: string; cid: string; expected: Map<string, Buffer> }> = []
    for (let d = 0; d < DATASETS; d++) {
      const source = await randomDataset(work, `set-${d}`, 3, 512 * 1024 + d)
      const info = await addOnAll(providers, source, { chunkSize: CHUNK })
      datasets.push({ source, cid: info.cid, expected: await readTree(source) })
    }

    const restart = async (slot: ProviderSlot): Promise<void> => {
      const config = parseConfig(
        {
          dataDir: slot.dataDir,
          listen: [`/ip4/127.0.0.1/tcp/${slot.port}`],
          bootstrap: [bootstrap],
          offer: { uplinkMbps: PROVIDER_UPLINK_MBPS },
          latency: { pingIntervalMs: 60_000 },
        },
        'churn provider',
      )
      const node = await Bwnode.create(config)
      await node.start()
      slot.node = node
      slot.restarts++
    }

    // The chaos loop: every 150-600 ms flip one provider, keeping at least one running.
    let churning = true
    let stops = 0
    const chaos = (async () => {
      while (churning) {
        await new Promise((r) => setTimeout(r, 150 + random() * 450))
        if (!churning) break
        const slot = slots[Math.floor(random() * slots.length)] as ProviderSlot
        const running = slots.filter((s) => s.node !== undefined).length
        if (slot.node !== undefined && running > 1) {
          const node = slot.node
          slot.node = undefined
          await node.stop()
          stops++
        } else if (slot.node === undefined) {
          await restart(slot)
        }
      }
    })()

    const retries: number[] = []
    const outcomes: TransferInfo[] = []
    const fetchAll = async (fetcher: Bwnode, index: number): Promise<void> => {
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < datasets.length; k++) {
          const dataset = datasets[(k + index) % datasets.length]!
          const out = join(work, `out-${index}-${round}-${k}`)
          let attempt = 0
          while (true) {
            attempt++
            const transfer = fetcher.datasets.startFetch(dataset.cid, { out, seed: false })
            const done = await settleTransfer(fetcher, transfer.id, 120_000)
            if (done.state === 'done' || attempt >= MAX_ATTEMPTS || done.error?.code !== 'ERR_NO_PROVIDERS') {
              outcomes.push(done)
              break
            }
            await rm(out, { recursive: true, force: true })
            await new Promise((r) => setTimeout(r, 200))
          }
          retries.push(attempt - 1)
          expect(await readTree(out)).toEqual(dataset.expected)
          // Forget it so the next round downloads it again instead of finding it complete.
          await fetcher.datasets.remove(dataset.cid)
        }
      }
    }
    try {
      await Promise.all(fetchers.map((fetcher, i) => fetchAll(fetcher, i)))
    } finally {
      churning = false
      await chaos
    }

    const failed = outcomes.filter((o) => o.state !== 'done')
    expect(failed.map((o) => o.error)).toEqual([])
    expect(outcomes).toHaveLength(FETCHERS * DATASETS * ROUNDS)
    expect(stops).toBeGreaterThan(0)

    // Heal: bring every provider back and wait until the DHT names each restarted one again.
    for (const slot of slots) if (slot.node === undefined) await restart(slot)
    const restarted = slots.filter((s) => s.restarts > 0)
    expect(restarted.length).toBeGreaterThan(0)
    const probe = fetchers[0]!
    const cid = parseDatasetCid(datasets[0]!.cid)
    const healStarted = Date.now()
    await waitFor(
      async () => {
        const found = new Set<string>()
        for await (const p of probe.libp2p.contentRouting.findProviders(cid, {
          signal: AbortSignal.timeout(5_000),
        })) {
          found.add(p.id.toString())
        }
        return restarted.every((s) => found.has(s.node!.peerId.toString())) ? true : undefined
      },
      { what: 'restarted providers in the DHT', timeoutMs: 60_000, intervalMs: 500 },
    )
    const healSeconds = (Date.now() - healStarted) / 1000
    // And a fresh fetch after the churn uses the restarted providers.
    const after = join(work, 'after-heal')
    const done = await settleTransfer(
      probe,
      probe.datasets.startFetch(datasets[0]!.cid, { out: after, seed: false }).id,
    )
    expect(done.error).toBeNull()
    expect(await readTree(after)).toEqual(datasets[0]!.expected)

    console.log(
      `churn (seed ${seed}): ${outcomes.length} fetches of ${datasets.length} datasets by ${FETCHERS} fetchers, ` +
        `${stops} provider stops, ${slots.reduce((n, s) => n + s.restarts, 0)} restarts, ` +
        `all correct; retries after ERR_NO_PROVIDERS: ${retries.reduce((a, b) => a + b, 0)} ` +
        `(max ${Math.max(...retries)} for one fetch); ${restarted.length} restarted providers found again in ${healSeconds.toFixed(1)} s`,
    )
  })
})
