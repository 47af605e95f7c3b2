import { spawnSync } from 'node:child_process'
import { readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSeed } from '../../src/store/seed.ts'
import { tempDir } from '../helpers/daemon.ts'
import { fileHashes, netnsProbe, runLabScript, sweepNamespaces, which } from '../helpers/netns.ts'

/**
 * scripts/netns-lab.sh: each node a separate host in its own network
 * namespace (own address on a private bridge, kernel rate limits), a dataset
 * seeded on two residential peers and fetched by the consumer through the DHT.
 */

const SCRIPT = resolve(import.meta.dirname, '../../scripts/netns-lab.sh')
const PREFIX = 'bwlabtest'
const SEED = 'shards'
const SCALE = 1 / 32
const NODES = 'lab-consumer,lab-home-1km,lab-home-10km'
/** Uplinks of the two providers in node-configs (Mbit/s), enforced by tc tbf in the script. */
const PROVIDER_UPLINKS_MBPS = 20 + 25

/** Why the netns lab cannot run here, or null when it can. */
function unavailableReason(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root'
  for (const tool of ['ip', 'setpriv', 'curl', 'bash']) if (!which(tool)) return `${tool} is not installed`
  return netnsProbe(PREFIX)
}

const reason = unavailableReason()
if (reason !== null) console.warn(`netns lab e2e skipped: ${reason}`)

describe.skipIf(reason !== null)('netns lab (one network namespace per node)', () => {
  let work = ''
  let scriptPid: number | undefined

  beforeAll(async () => {
    sweepNamespaces(PREFIX)
    work = await tempDir('bwnode-netns-test-')
  })

  afterAll(async () => {
    // Even if the script was killed before its trap ran: its daemons die with it
    // (setpriv --pdeathsig), and its namespaces go here.
    if (scriptPid !== undefined) sweepNamespaces(PREFIX, scriptPid)
    await rm(work, { recursive: true, force: true })
  })

  it('fetches a dataset between separate hosts through the DHT, at the kernel-enforced rate, and removes everything', async () => {
    const out = join(work, 'fetched')
    const { code, stdout, stderr, pid } = await runLabScript(
      SCRIPT,
      ['--nodes', NODES, '--seed', SEED, '--scale', String(SCALE), '--out', out],
      { BWLAB_PREFIX: PREFIX, TMPDIR: work },
      150_000,
      (started) => (scriptPid = started),
    )
    expect(code, stderr).toBe(0)

    const line = stdout.split('\n').find((l) => l.startsWith('netns-lab result '))
    expect(line, stderr).toBeDefined()
    const result = JSON.parse((line ?? '').slice('netns-lab result '.length)) as {
      bytes: number
      seconds: number
      providers: Array<{ peerId: string; bytes: number }>
      providerAddrs: Record<string, string[]>
    }

    // The bytes came from other hosts: providers reached at their own 10.77.0.x address.
    const serving = result.providers.filter((p) => p.bytes > 0)
    expect(serving.length).toBeGreaterThan(0)
    expect(serving.reduce((sum, p) => sum + p.bytes, 0)).toBe(result.bytes)
    for (const provider of serving) {
      const addrs = result.providerAddrs[provider.peerId] ?? []
      expect(addrs.some((a) => /^\/ip4\/10\.77\.0\.(1[1-9])\/tcp\//.test(a))).toBe(true)
      expect(addrs.some((a) => a.includes('/127.0.0.1/'))).toBe(false)
    }
    // tc tbf caps each provider's uplink, so the fetch cannot beat their sum (15% slack for bursts).
    const ceilingBytesPerSec = ((PROVIDER_UPLINKS_MBPS * 1e6) / 8) * 1.15
    expect(result.bytes / result.seconds).toBeLessThan(ceilingBytesPerSec)

    // The fetched files are byte for byte what the recipe generates.
    const expectedDir = join(work, 'expected')
    const expectedRoot = await generateSeed(SEED, expectedDir, { scale: SCALE })
    const expected = await fileHashes(expectedRoot)
    const fetched = await fileHashes(out)
    expect(expected.size).toBeGreaterThan(0)
    expect(fetched).toEqual(expected)

    // Nothing left: no namespace of this run, no temp dir of the script.
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
    expect(listed).not.toContain(`${PREFIX}-${pid}-`)
    expect((await readdir(work)).filter((name) => name.startsWith('bwnode-netns-'))).toEqual([])
  }, 180_000)
})
