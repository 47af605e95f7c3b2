import { spawnSync } from 'node:child_process'
import { readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directExpected, type PairResult } from '../../scripts/nat-lab/table.ts'
import { generateSeed } from '../../src/store/seed.ts'
import { tempDir } from '../helpers/daemon.ts'
import { fileHashes, netnsProbe, runLabScript, sweepNamespaces, which } from '../helpers/netns.ts'

/**
 * scripts/nat-lab.sh: four home nodes, each behind its own NAT router namespace (two
 * endpoint-independent, one symmetric, one with a UPnP daemon), and a public relay. Every pair
 * of home nodes connects (direct where the NATs allow, else through the relay) and fetches a
 * dataset the one seeded; the lab's table is printed.
 */

const SCRIPT = resolve(import.meta.dirname, '../../scripts/nat-lab.sh')
const PREFIX = 'natlabtest'
const TRIALS = 5

/** Why the NAT lab cannot run here, or null when it can. */
function unavailableReason(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'not root: ip netns and nftables need root'
  for (const tool of ['ip', 'nft', 'miniupnpd', 'setpriv', 'curl', 'bash'])
    if (!which(tool)) return `${tool} is not installed (apt-get install iproute2 nftables miniupnpd-nftables)`
  const probe = `${PREFIX}-${process.pid}-nft`
  const failed = netnsProbe(PREFIX)
  if (failed !== null) return failed
  spawnSync('ip', ['netns', 'add', probe])
  const nft = spawnSync('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe'], {
    encoding: 'utf8',
  })
  spawnSync('ip', ['netns', 'delete', probe])
  if (nft.status !== 0) return `nftables does not work here: ${(nft.stderr ?? '').trim()}`
  return null
}

const reason = unavailableReason()
if (reason !== null) console.warn(`NAT lab e2e skipped: ${reason}`)

describe.skipIf(reason !== null)('NAT lab (home nodes behind NAT routers, a public relay)', () => {
  let work = ''
  let scriptPid: number | undefined

  beforeAll(async () => {
    sweepNamespaces(PREFIX)
    work = await tempDir('bwnode-natlab-test-')
  })

  afterAll(async () => {
    if (scriptPid !== undefined) sweepNamespaces(PREFIX, scriptPid)
    await rm(work, { recursive: true, force: true })
  })

  it('every pair of home nodes fetches byte-identical data, directly wherever the NATs allow', async () => {
    const out = join(work, 'out')
    const { code, stdout, stderr, pid } = await runLabScript(
      SCRIPT,
      ['--trials', String(TRIALS), '--out', out],
      { NATLAB_PREFIX: PREFIX, TMPDIR: work },
      // a guard against a hang, not a speed: 100-200 s usually, but each pair left relayed where
      // its NATs allow direct gets up to 5 more tries (a CI run with three such pairs passed 270 s)
      480_000,
      (started) => (scriptPid = started),
    )
    expect(code, stderr).toBe(0)

    // The table, for the log.
    console.log(
      stdout
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .join('\n'),
    )
    const line = stdout.split('\n').find((l) => l.startsWith('nat-lab result '))
    expect(line, stderr).toBeDefined()
    const result = JSON.parse((line ?? '').slice('nat-lab result '.length)) as { pairs: PairResult[] }
    expect(result.pairs).toHaveLength(6)

    for (const pair of result.pairs) {
      const label = `${pair.a}(${pair.nats[0]}) <-> ${pair.b}(${pair.nats[1]})`
      // Every pair completes, from the one node that seeded its dataset, byte for byte.
      expect(pair.fetch.providers, label).toEqual([pair.providerId])
      expect(pair.fetch.fetchedBytes, `${label}: every byte went over the connection`).toBe(pair.fetch.bytes)
      const expectedDir = join(work, 'expected', `${pair.a}-${pair.b}`)
      const expected = await fileHashes(
        await generateSeed(pair.fetch.seed, expectedDir, { scale: pair.fetch.scale }),
      )
      expect(expected.size).toBeGreaterThan(0)
      expect(await fileHashes(pair.fetch.out), label).toEqual(expected)
      if (!directExpected(pair.nats)) {
        expect(pair.fetch.over, `${label}: its NATs allow no direct path`).toBe('relayed')
      }
    }

    // Direct where the NAT types permit it: hole punching (eim <-> eim) and dials to a UPnP
    // mapping each made direct connections. How often, per pair, is what the table reports, not a
    // pass mark: runs on this loaded 2-core machine had eim <-> eim direct in 1 to 5 of 5 trials,
    // and in four of seven runs a pair with a UPnP side stayed relayed for its fetch (a known gap).
    for (const kind of ['hole punch', 'upnp'] as const) {
      const pairs = result.pairs.filter((p) =>
        kind === 'upnp' ? p.nats.includes('upnp') : p.nats[0] === 'eim' && p.nats[1] === 'eim',
      )
      const direct = pairs.reduce((n, p) => n + p.trials.filter((t) => t.path === 'direct').length, 0)
      expect(direct, `${kind}: direct connections in the trials of ${pairs.length} pairs`).toBeGreaterThan(0)
    }

    // Nothing left: no namespace of this run, no temp dir of the script.
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
    expect(listed).not.toContain(`${PREFIX}-${pid}-`)
    expect((await readdir(work)).filter((name) => name.startsWith('bwnode-natlab-'))).toEqual([])
  }, 490_000)
})
