/**
 * The NAT lab's measurements, run by scripts/nat-lab.sh once its namespaces and daemons are up
 * (lab.json says where each node is). Every call goes to a node's local API inside its own
 * namespace (`ip netns exec <ns> curl`), as a user's CLI would.
 *
 * For every pair of home nodes (a, b): `trials` times, close their connections (flush both
 * routers' NAT state when conntrack is installed), ping b from a, and watch a's connections to b
 * for a while: direct or relayed, and how long until the connection was the one it stayed.
 * Then a fetches a dataset only b seeded, over whatever connection they have.
 * Prints the table and one line "nat-lab result <json>".
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { NodeStatus, PeerDetail, TransferInfo } from '../../src/contract/api.ts'
import {
  directExpected,
  type LabNode,
  type LabPlan,
  natPairs,
  type PairResult,
  renderTable,
  type Trial,
} from './table.ts'

const run = promisify(execFile)

/** How long a trial watches for a relayed connection to turn direct, ms. */
const UPGRADE_WINDOW_MS = 5_000
/** Extra connection tries before a fetch, for a pair that could be direct but is relayed. */
const PRE_FETCH_RETRIES = 5
/** Pings a trial tries before it counts the pair as unreachable. */
const PING_ATTEMPTS = 3
/** How long a pair's connections must stay unchanged before its fetch starts, ms. */
const SETTLED_MS = 1_500
/** How long the home nodes may take to find their way out (reservation, UPnP mapping), ms. */
const SETTLE_TIMEOUT_MS = 60_000
/**
 * The seeded datasets: `shards` at 16 MiB (512 MiB at scale 1), large enough that a fetch's
 * throughput is the path's, not its setup's (DHT walk, manifest). One per pair, each cut in
 * chunks of its own size (1 MiB, 960 KiB, 896 KiB, ...): the same recipe cut alike would share
 * chunks, and a node would fetch only those it lacks.
 */
const SEED = 'shards'
const SEED_SCALE = 16 / 512
const seedChunkSize = (pairIndex: number): number => (1024 - 64 * pairIndex) * 1024

interface Api {
  url: string
  token: string
  peerId: string
}

const apis = new Map<string, Api>()

async function apiOf(node: { data: string }): Promise<Api> {
  const known = apis.get(node.data)
  if (known !== undefined) return known
  const api = JSON.parse(await readFile(join(node.data, 'api.json'), 'utf8')) as Api
  apis.set(node.data, api)
  return api
}

async function call<T>(
  node: { ns: string; data: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const api = await apiOf(node)
  const args = [
    'netns',
    'exec',
    node.ns,
    'curl',
    '-sS',
    '--fail-with-body',
    '--max-time',
    '120',
    '-X',
    method,
  ]
  args.push('-H', `authorization: Bearer ${api.token}`)
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body))
  args.push(`${api.url}${path}`)
  const { stdout } = await run('ip', args, { maxBuffer: 16 * 1024 * 1024 })
  return JSON.parse(stdout) as T
}

const log = (line: string): void => {
  process.stderr.write(`nat-lab: ${line}\n`)
}

/** Waits until `check` holds (polling), or throws naming `what`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(250)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** What each NAT type must reach before the trials: a relay slot, and a router mapping for upnp. */
async function settle(homes: LabNode[]): Promise<Map<string, NodeStatus['reachability']>> {
  const seen = new Map<string, NodeStatus['reachability']>()
  await Promise.all(
    homes.map((home) =>
      until(`${home.name} (${home.nat}) to be reachable`, SETTLE_TIMEOUT_MS, async () => {
        const status = await call<NodeStatus>(home, 'GET', '/api/status')
        seen.set(home.name, status.reachability)
        const want = home.nat === 'upnp' ? 'nat-mapped' : 'relayed'
        return status.reachability.kind === want && status.dhtRoutingTableSize > 0
      }),
    ),
  )
  return seen
}

/**
 * Forgets what the two routers' NAT state holds of each other (not all of it: that would reset
 * the nodes' connections to the relay), so a trial starts as if they had never met.
 */
async function forgetEachOther(plan: LabPlan, a: LabNode, b: LabNode): Promise<void> {
  if (!plan.conntrack) return
  for (const [router, other] of [
    [a.router, b.wan],
    [b.router, a.wan],
  ] as const)
    for (const flag of ['-d', '-s'])
      await run('ip', ['netns', 'exec', router, 'conntrack', '-D', flag, other]).catch(() => {})
}

async function connectionsOf(a: LabNode, b: LabNode): Promise<PeerDetail['connections']> {
  const id = (await apiOf(b)).peerId
  return (await call<PeerDetail>(a, 'GET', `/api/peers/${id}`)).connections
}

/** One trial: from no connection between a and b to the connection they keep. */
async function trial(plan: LabPlan, a: LabNode, b: LabNode): Promise<Trial> {
  const bId = (await apiOf(b)).peerId
  const aId = (await apiOf(a)).peerId
  // Each side hangs up; either may dial again at once (libp2p keeps its closest DHT peers
  // connected), so a trial times from here: disconnected, to the connection the pair keeps.
  await call(a, 'DELETE', `/api/peers/${bId}/connections`)
  await call(b, 'DELETE', `/api/peers/${aId}/connections`)
  await forgetEachOther(plan, a, b)
  const started = performance.now()
  // A ping can land on a connection that is just being replaced (a hole punch, the other end
  // reconnecting): the dial is what is measured, so it is asked again.
  for (let attempt = 1; ; attempt++) {
    try {
      await call(a, 'GET', `/api/peers/${bId}/ping`)
      break
    } catch (err) {
      if (attempt === PING_ATTEMPTS) {
        log(`${a.name} could not reach ${b.name}: ${(err as { stdout?: string }).stdout ?? String(err)}`)
        return { path: 'none', first: 'relayed', connectMs: performance.now() - started }
      }
      await sleep(200)
    }
  }
  const firstMs = performance.now() - started
  let firstKind: Trial['first'] | undefined
  const deadline = started + UPGRADE_WINDOW_MS
  while (performance.now() < deadline) {
    const connections = await connectionsOf(a, b)
    const direct = connections.some((c) => !c.relayed)
    firstKind ??= direct ? 'direct' : 'relayed'
    if (direct) return { path: 'direct', first: firstKind, connectMs: performance.now() - started }
    await sleep(100)
  }
  return { path: 'relayed', first: firstKind ?? 'relayed', connectMs: firstMs }
}

/** Waits until the pair's connections stayed the same for a while (a hole punch may be under way). */
async function settled(a: LabNode, b: LabNode): Promise<void> {
  let last = ''
  let since = performance.now()
  await until(`${a.name}'s connections to ${b.name} to settle`, 20_000, async () => {
    const now = (await connectionsOf(a, b))
      .map((c) => c.remoteAddr)
      .sort()
      .join(' ')
    if (now !== last || now === '') {
      last = now
      since = performance.now()
    }
    return performance.now() - since > SETTLED_MS
  })
}

async function fetchPair(plan: LabPlan, a: LabNode, b: LabNode, cid: string, pairIndex: number) {
  await settled(a, b)
  const out = join(plan.out, `pair-${pairIndex}-${a.name}-${b.name}`)
  const started = await call<TransferInfo>(a, 'POST', '/api/fetch', { cid, out, seed: false })
  let info = started
  await until(`${a.name}'s fetch from ${b.name}`, 120_000, async () => {
    info = await call<TransferInfo>(a, 'GET', `/api/transfers/${started.id}`)
    return info.state !== 'running'
  })
  if (info.state !== 'done' || info.result === null)
    throw new Error(`${a.name} fetching from ${b.name}: ${info.state} ${JSON.stringify(info.error)}`)
  const connections = await connectionsOf(a, b)
  return {
    out,
    bytes: info.result.bytes,
    fetchedBytes: info.result.fetchedBytes,
    seconds: info.result.seconds,
    providers: info.result.providers.filter((p) => p.bytes > 0).map((p) => p.peerId),
    over: connections.some((c) => !c.relayed) ? ('direct' as const) : ('relayed' as const),
  }
}

async function main(): Promise<void> {
  const planFile = process.argv[2]
  if (planFile === undefined) throw new Error('usage: driver.ts <lab.json>')
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as LabPlan
  const reachability = await settle(plan.homes)
  for (const home of plan.homes) {
    const r = reachability.get(home.name)
    log(
      `${home.name} (${home.nat}): ${r?.kind}; public ${r?.publicAddrs.join(' ') || '-'}; observed ${r?.observedAddrs.join(' ') || '-'}`,
    )
  }
  const relay = await call<NodeStatus>(plan.relay, 'GET', '/api/status')
  log(`relay: ${relay.reachability.kind}, ${relay.reachability.relay?.reservations} reservations`)

  const pairs = natPairs(plan.homes)
  // Each pair's provider seeds its own dataset, so a fetch has exactly one provider.
  const cids: string[] = []
  for (const [index, [, b]] of pairs.entries()) {
    const seeded = await call<{ cid: string }>(b, 'POST', '/api/seeds', {
      name: SEED,
      scale: SEED_SCALE,
      chunkSize: seedChunkSize(index),
    })
    cids.push(seeded.cid)
  }
  for (const [index, [, b]] of pairs.entries())
    await until(`${b.name} to announce its dataset`, 60_000, async () =>
      (await call<Array<{ cid: string; provided: boolean }>>(b, 'GET', '/api/datasets')).some(
        (d) => d.cid === cids[index] && d.provided,
      ),
    )

  const results: PairResult[] = []
  for (const [index, [a, b]] of pairs.entries()) {
    const trials: Trial[] = []
    for (let t = 0; t < plan.trials; t++) trials.push(await trial(plan, a, b))
    // The fetch should run over the path the NATs allow: a pair that ended its trials relayed
    // though it could be direct gets a few more tries first (counted apart from the trials).
    let retries = 0
    while (directExpected([a.nat, b.nat]) && retries < PRE_FETCH_RETRIES) {
      await settled(a, b)
      if ((await connectionsOf(a, b)).some((c) => !c.relayed)) break
      retries++
      await trial(plan, a, b)
    }
    const fetched = await fetchPair(plan, a, b, cids[index] as string, index)
    const result: PairResult = {
      a: a.name,
      b: b.name,
      nats: [a.nat, b.nat],
      trials,
      fetch: { ...fetched, cid: cids[index] as string, seed: SEED, scale: SEED_SCALE, retries },
      providerId: (await apiOf(b)).peerId,
    }
    results.push(result)
    const direct = trials.filter((t) => t.path === 'direct').length
    log(
      `${a.name}(${a.nat}) <-> ${b.name}(${b.nat}): ${direct}/${trials.length} direct; fetched ${(fetched.bytes / 1e6).toFixed(1)} MB in ${fetched.seconds.toFixed(2)} s over a ${fetched.over} connection`,
    )
  }
  process.stdout.write(`${renderTable(results)}\n`)
  process.stdout.write(
    `nat-lab result ${JSON.stringify({ pairs: results, reachability: Object.fromEntries(reachability) })}\n`,
  )
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
