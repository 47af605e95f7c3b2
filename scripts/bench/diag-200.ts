import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, makeDataset, provideDataset, startBwnode, stopAll, timedFetch, waitForProviders } from './cluster.ts'

const rttMs = Number(process.argv[2] ?? 100)
const mbps = Number(process.argv[3] ?? 200)
const chunkKiB = Number(process.argv[4] ?? 256)
const maxWindow = process.argv[5] ? Number(process.argv[5]) : undefined
const minWindow = process.argv[6] ? Number(process.argv[6]) : undefined
const CHUNK = chunkKiB * 1024
const workDir = await mkdtemp(join(tmpdir(), 'diag-'))
const link = { accessLatencyMs: rttMs / 4, uplinkMbps: mbps, downlinkMbps: mbps, position: { x: 0, y: 0 } }
const offer = { uplinkMbps: 0, pricePerGiB: 0 }
const provider = await startBwnode(workDir, { offer, link })
const client = await startBwnode(workDir, { offer, link })
await connect(client, provider)
const chunks = Math.round((mbps * 1e6 * 2.5) / 8 / CHUNK)
const dir = await makeDataset(join(workDir, 'ds'), chunks * CHUNK, 1)
const cid = await provideDataset([provider], dir, CHUNK)
await waitForProviders(client, cid, 1)
for (let round = 0; round < 2; round++) {
  const f = await timedFetch(client, cid, { maxProviders: 1, ...(maxWindow ? { maxWindow } : {}), ...(minWindow ? { minWindow } : {}) })
  const p = f.result.providers[0] as unknown as Record<string, unknown>
  console.log(JSON.stringify({ round, ratio: (f.steadyBytesPerSec * 8) / 1e6 / mbps, seconds: f.seconds, window: p.window, rttMs: p.rttMs, rate: p.rateBytesPerSec }))
}
await stopAll([provider, client])
