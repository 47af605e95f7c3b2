/**
 * A DHT of bwnode nodes spread over processes (each with its own event loop, as machines have),
 * every node behind an emulated home link: homes scattered over a country-sized square, each with
 * its last-mile latency. Measures what the scale issue asks of a 200-node lab: provide and
 * findProviders times (p50/p99), hops, lookups that time out, RSS per node, CPU per node at rest
 * (the latency recorder pinging at its default interval, kad-dht's own upkeep), and the swarm's
 * CPU per record provided, from which a node's hourly republishing follows.
 */
import { cpus } from 'node:os'
import { join } from 'node:path'
import type { LinkConfig } from '../../src/config/schema.ts'
import { expectedRttMs } from '../../src/lab/nodes.ts'
import { seededRandom } from '../../src/util/random.ts'
import { median } from '../../src/util/stats.ts'
import { PeerProcess } from './cross-process-protocol.ts'
import type { FirstProvider } from './dht-walk.ts'
import type { SwarmRequest, SwarmUsage } from './swarm-host.ts'
import { type BenchContext, type BenchResult, checked, info, percentile } from './types.ts'

const HOST_SCRIPT = join(import.meta.dirname, 'swarm-host.ts')
/** A walk (provide or lookup) that has not finished by then counts as timed out (the bound). */
const WALK_TIMEOUT_MS = 30_000
/** Homes lie in a square this wide (km): a country, RTTs of a few tens of ms. */
const REGION_KM = 1_000
/** Each home's last mile, one way (ms): cable or fibre. */
const ACCESS_LATENCY_MS = 5
/** A node joins through the first node and this many other nodes started before it. */
const JOIN_PEERS = 2
/** The latency recorder's ping interval, as a node runs by default (config latency.pingIntervalMs). */
const DEFAULT_PING_INTERVAL_MS = 15_000
/**
 * Provider records a node republishes each hour: its offer's and one per dataset it provides (here
 * one). The offer's signed record, a DHT put beside its provider record, is not counted.
 */
const RECORDS_PER_NODE_HOUR = 2

type Host = PeerProcess<SwarmRequest>

interface Placed {
  host: number
  /** The node's index within its host. */
  local: number
  link: LinkConfig
  peerId: string
  addr: string
}

export interface DhtScaleOptions {
  nodes: number
  processes: number
  lookups: number
  /** Wait after joining before anything is measured (routing tables fill), ms. */
  settleMs: number
  /** How long CPU at rest is measured, ms. */
  restMs: number
  /** The latency recorder's ping interval, ms (default: the node's, 15 s). */
  pingIntervalMs?: number
}

export function dhtScaleOptions(quick: boolean): DhtScaleOptions {
  return quick
    ? { nodes: 40, processes: 2, lookups: 8, settleMs: 5_000, restMs: 5_000 }
    : { nodes: 200, processes: 4, lookups: 12, settleMs: 30_000, restMs: 60_000 }
}

function homeLinks(count: number): LinkConfig[] {
  const random = seededRandom(11)
  return Array.from({ length: count }, () => ({
    accessLatencyMs: ACCESS_LATENCY_MS,
    uplinkMbps: 0,
    downlinkMbps: 0,
    position: { x: random() * REGION_KM, y: random() * REGION_KM },
    routeInflation: 1.5,
    queueMs: 5,
  }))
}

/** Swarm CPU (every host process) over `work`, seconds, and the work's wall time, seconds. */
async function swarmCpu<T>(
  hosts: Host[],
  work: () => Promise<T>,
): Promise<{ value: T; cpu: number; seconds: number }> {
  await Promise.all(hosts.map((host) => host.request({ op: 'cpu-mark' })))
  const started = performance.now()
  const value = await work()
  const seconds = (performance.now() - started) / 1000
  const cpus = await Promise.all(hosts.map((host) => host.request<number>({ op: 'cpu-read' })))
  return { value, cpu: cpus.reduce((sum, s) => sum + s, 0), seconds }
}

export async function dhtScaleBench(
  ctx: BenchContext,
  options = dhtScaleOptions(ctx.quick),
): Promise<BenchResult[]> {
  const { nodes: count, processes, lookups } = options
  const links = homeLinks(count)
  const random = seededRandom(23)
  const pick = (n: number): number => Math.floor(random() * n)
  const hosts: Host[] = []
  try {
    hosts.push(
      ...(await Promise.all(
        Array.from({ length: processes }, (_, h) =>
          PeerProcess.start<SwarmRequest>({
            role: 'provider',
            script: HOST_SCRIPT,
            host: '127.0.0.1',
            dataDir: join(ctx.workDir, `dht-scale-${h}`),
            log: (line) => ctx.log(`dht-scale host ${h}: ${line}`),
          }),
        ),
      )),
    )
    const empty = await Promise.all(hosts.map((host) => host.request<SwarmUsage>({ op: 'usage' })))
    // Node i lives on host i mod P: every host holds near and far homes alike.
    const onHost = (h: number): number[] => links.map((_, i) => i).filter((i) => i % processes === h)
    const started = await Promise.all(
      hosts.map((host, h) =>
        host.request<Array<{ peerId: string; multiaddrs: string[] }>>({
          op: 'start',
          count: onHost(h).length,
          uplinkMbps: 0,
          links: onHost(h).map((i) => links[i] as LinkConfig),
          pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
        }),
      ),
    )
    const placed: Placed[] = links.map((link, i) => {
      const host = i % processes
      const local = Math.floor(i / processes)
      const node = started[host]?.[local]
      const addr = node?.multiaddrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))
      if (node === undefined || addr === undefined) throw new Error(`node ${i} did not start`)
      return {
        host,
        local,
        link,
        peerId: node.peerId,
        addr: addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId}`,
      }
    })
    ctx.log(`dht-scale: ${count} nodes up in ${processes} processes`)
    // Each node dials the first node and a few started before it; kad-dht's self-queries do the rest.
    const joins = placed.map((_, i) => {
      const targets = new Set<number>(i === 0 ? [] : [0])
      while (targets.size < Math.min(JOIN_PEERS + 1, i)) targets.add(pick(i))
      return [...targets].map((t) => (placed[t] as Placed).addr)
    })
    const failedDials = (
      await Promise.all(
        hosts.map((host, h) =>
          host.request<number>({ op: 'connect', addrs: onHost(h).map((i) => joins[i] ?? []) }),
        ),
      )
    ).reduce((sum, n) => sum + n, 0)
    await new Promise((resolve) => setTimeout(resolve, options.settleMs))

    const rest = await swarmCpu(hosts, () => new Promise((resolve) => setTimeout(resolve, options.restMs)))
    const usage = await Promise.all(hosts.map((host) => host.request<SwarmUsage>({ op: 'usage' })))
    const rssPerNodeMB =
      usage.reduce((sum, u, h) => sum + u.rssBytes - (empty[h] as SwarmUsage).rssBytes, 0) / count / 1e6
    const routingTables = usage.flatMap((u) => u.routingTableSizes)
    const restCoresPerNode = rest.cpu / rest.seconds / count
    ctx.log(
      `dht-scale: ${rssPerNodeMB.toFixed(1)} MB RSS per node, ${(restCoresPerNode * 100).toFixed(2)}% of a core ` +
        `per node at rest, routing tables p50 ${median(routingTables)}`,
    )

    // Provides first (their swarm CPU measured apart), then lookups from a node in another process.
    const keys = Array.from({ length: lookups }, (_, i) => ({
      key: `dht-scale-${i}`,
      provider: pick(count),
    }))
    let failed = 0
    const provideMs: number[] = []
    const provides = await swarmCpu(hosts, async () => {
      for (const { key, provider } of keys) {
        const at = placed[provider] as Placed
        await (hosts[at.host] as Host)
          .request<number>({ op: 'provide', node: at.local, key, timeoutMs: WALK_TIMEOUT_MS })
          .then((ms) => provideMs.push(ms))
          .catch((err: Error) => {
            failed++
            ctx.log(`dht-scale: provide ${key} failed: ${err.message.split('\n')[0]}`)
          })
      }
    })
    ctx.log(`dht-scale: provides took ${provideMs.map((ms) => ms.toFixed(0)).join(', ')} ms`)
    const finds: Array<FirstProvider & { seeker: number }> = []
    for (const { key, provider } of keys) {
      let seeker = pick(count)
      while (processes > 1 && seeker % processes === provider % processes) seeker = pick(count)
      const at = placed[seeker] as Placed
      await (hosts[at.host] as Host)
        .request<FirstProvider>({ op: 'find', node: at.local, key, timeoutMs: WALK_TIMEOUT_MS })
        .then((found) => finds.push({ ...found, seeker }))
        .catch((err: Error) => {
          failed++
          ctx.log(`dht-scale: lookup of ${key} failed: ${err.message.split('\n')[0]}`)
        })
    }

    // A hop's processing: each request's answer time less the emulated round trip it crossed.
    const linkOf = new Map(placed.map((p) => [p.peerId, p.link]))
    const processingMs = finds.flatMap((find) =>
      find.queries.map((q) => q.ms - expectedRttMs(links[find.seeker], linkOf.get(q.peer))),
    )
    const pairRtts = Array.from({ length: 2_000 }, () =>
      expectedRttMs(links[pick(count)], links[pick(count)]),
    )
    const medianRtt = median(pairRtts)
    const hopProcessing = median(processingMs)
    const findBound = 4 * (medianRtt + hopProcessing)
    // What provides cost beyond the rest load; not measurable once the rest load fills the cores.
    const restCores = rest.cpu / rest.seconds
    const saturated = restCores >= 0.9 * cpus().length
    const provideSwarmCpuMs =
      provideMs.length === 0 || saturated
        ? Number.NaN
        : ((provides.cpu - restCores * provides.seconds) / provideMs.length) * 1000
    const setup = `${count} nodes in ${processes} processes, ${lookups} lookups`
    return [
      info('dht_scale.nodes', count, 'nodes', `${processes} processes; ${failedDials} join dials failed`),
      checked(
        'dht_scale.lookups_failed',
        failed,
        `of ${2 * lookups}`,
        '<=',
        0,
        `provides and lookups timed out at ${WALK_TIMEOUT_MS / 1000} s or finding no provider`,
      ),
      info(
        'dht_scale.answered_locally',
        finds.filter((f) => f.hops === 0).length,
        `of ${finds.length}`,
        'lookups the seeker answered from its own store (it was among the closest peers)',
      ),
      checked('dht_scale.provide_p50', percentile(provideMs, 50), 'ms', '<=', 1_000, setup),
      info('dht_scale.provide_p99', percentile(provideMs, 99), 'ms'),
      checked(
        'dht_scale.find_providers_p50',
        percentile(
          finds.map((f) => f.ms),
          50,
        ),
        'ms',
        '<=',
        findBound,
        `to the first provider; bound 4 x (median RTT ${medianRtt.toFixed(1)} ms + a hop's processing ${hopProcessing.toFixed(1)} ms)`,
      ),
      info(
        'dht_scale.find_providers_p99',
        percentile(
          finds.map((f) => f.ms),
          99,
        ),
        'ms',
      ),
      info(
        'dht_scale.hops_p50',
        percentile(
          finds.map((f) => f.hops),
          50,
        ),
        'hops',
      ),
      info(
        'dht_scale.hops_p99',
        percentile(
          finds.map((f) => f.hops),
          99,
        ),
        'hops',
      ),
      info(
        'dht_scale.median_link_rtt',
        medianRtt,
        'ms',
        `homes over ${REGION_KM} km, ${ACCESS_LATENCY_MS} ms last mile each way`,
      ),
      info(
        'dht_scale.hop_processing_p50',
        hopProcessing,
        'ms',
        "a DHT request's answer time less its emulated RTT",
      ),
      info('dht_scale.routing_table_p50', median(routingTables), 'peers'),
      checked(
        'dht_scale.rss_per_node',
        rssPerNodeMB,
        'MB',
        '<=',
        20,
        'RSS of the host processes less their RSS before any node',
      ),
      info(
        'dht_scale.rest_cpu_per_node',
        restCoresPerNode * 100,
        '% of a core',
        `over ${options.restMs / 1000} s at rest, pings every ${(options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS) / 1000} s`,
      ),
      info(
        'dht_scale.provide_swarm_cpu',
        provideSwarmCpuMs,
        'CPU-ms',
        saturated
          ? `not measurable: at rest the swarm already used ${restCores.toFixed(2)} of ${cpus().length} cores`
          : 'swarm CPU per record provided, less the rest rate',
      ),
      info(
        'dht_scale.republish_cpu_per_node_hour',
        (provideSwarmCpuMs * RECORDS_PER_NODE_HOUR) / 1000,
        'CPU-s',
        `swarm CPU for a node's hourly republishing: ${RECORDS_PER_NODE_HOUR} records (its offer, one dataset)`,
      ),
    ]
  } finally {
    await Promise.all(hosts.map((host) => host.stop()))
  }
}
