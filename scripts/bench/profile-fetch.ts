/**
 * The one-peer loopback fetch alone, for a CPU profile of the hot path:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof scripts/bench/profile-fetch.ts [MiB] [rounds]
 *   node scripts/bench/profile-summary.ts /tmp/prof/<file>.cpuprofile
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, stopAll } from '../../src/lab/swarm.ts'
import { makeDataset, provideDataset, startBwnode, timedFetch } from './cluster.ts'

const mib = Number(process.argv[2] ?? 128)
const rounds = Number(process.argv[3] ?? 4)
/** Comma-separated minimum windows to alternate between, side by side (e.g. 2,8). */
const minWindows = (process.argv[4] ?? '').split(',').filter(Boolean).map(Number)
const workDir = await mkdtemp(join(tmpdir(), 'bwnode-profile-'))
const offer = { uplinkMbps: 0, pricePerGiB: 0 }
const client = await startBwnode(workDir, { offer })
const provider = await startBwnode(workDir, { offer })
try {
  await connect(client, provider)
  const cid = await provideDataset([provider], await makeDataset(join(workDir, 'data'), mib * 2 ** 20))
  for (let round = 0; round < rounds; round++) {
    const minWindow = minWindows[round % Math.max(1, minWindows.length)]
    const fetch = await timedFetch(client, cid, {
      maxProviders: 1,
      ...(minWindow === undefined ? {} : { minWindow }),
    })
    const p = fetch.result.providers[0]
    console.log(
      `round ${round} minWindow ${minWindow ?? 'default'}: ${(fetch.result.bytes / 1e6 / fetch.seconds).toFixed(0)} MB/s whole, ` +
        `${(fetch.steadyBytesPerSec / 1e6).toFixed(0)} MB/s steady, window ${p?.window}, rtt ${p?.rttMs} ms`,
    )
  }
} finally {
  await stopAll([client, provider])
  await rm(workDir, { recursive: true, force: true })
}
