import { resolve } from 'node:path'
import type { DatasetInfo, NodeStatus, TransferInfo } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { formatBytes, formatRate } from '../util/format.ts'
import { waitFor } from '../util/poll.ts'
import { LabCluster } from './cluster.ts'
import {
  DEFAULT_DHT_TIMEOUT_MS,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_PROVIDE_TIMEOUT_MS,
  DEFAULT_REFRESH_MS,
  DEFAULT_SEED_NAME,
  DEFAULT_SEED_SCALE,
} from './constants.ts'
import { LabDisplay, type LabOutput } from './display.ts'
import {
  type ExperimentSummary,
  loadRunExperiment,
  progressText,
  type RunExperiment,
  summariseExperiment,
} from './experiment.ts'
import { LabMonitor } from './monitor.ts'
import { expectedRttMs, type LabRole, loadLabNodes } from './nodes.ts'
import type { LabNodeProcess } from './process.ts'
import type { LabRow } from './table.ts'

export interface LabOptions {
  /** Directory holding lab-*.json configs. */
  nodesDir: string
  /** Where the quick experiment writes its report. */
  out: string
  /** Run the quick experiment after the lab's own fetches (default true). */
  experiment?: boolean
  /** Leave the daemons up until `signal` aborts. */
  keepRunning?: boolean
  /** Where the log and table go. */
  output: LabOutput
  /** Force terminal (in-place table) or plain-line output; default: output.isTTY. */
  tty?: boolean
  /** Aborting stops the lab (Ctrl-C): the daemons are stopped and the run rejects with ERR_CANCELLED. */
  signal?: AbortSignal
  seedName?: string
  seedScale?: number
  refreshMs?: number
  tmpRoot?: string
  /** Injected for tests; default: src/experiment/runner.ts when present. */
  runExperiment?: RunExperiment | null
}

export interface LabNodeSummary {
  name: string
  role: LabRole
  peerId: string
  apiUrl: string
  pid: number
  dataDir: string
}

export interface LabFetchSummary {
  node: string
  state: TransferInfo['state']
  bytes: number
  seconds: number
  throughputMBps: number
  error: string | null
  providers: Array<{ name: string; bytes: number; rttMs: number | null; modelRttMs: number }>
}

export interface LabSummary {
  root: string
  nodes: LabNodeSummary[]
  dataset: { name: string; cid: string; bytes: number; seededOn: string[] }
  fetches: LabFetchSummary[]
  table: LabRow[]
  experiment: (ExperimentSummary & { skipped: null }) | { skipped: string }
  keptRunning: boolean
}

function cancelled(): BwnodeError {
  return new BwnodeError(ERR.CANCELLED, 'lab stopped')
}

/** Polls `probe` every 250 ms until it returns a value; at the timeout, ERR_LAB_TIMEOUT says what for. */
function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  return waitFor(probe, {
    what,
    timeoutMs,
    intervalMs: 250,
    ...(signal === undefined ? {} : { signal }),
    timeoutError: (message) => new BwnodeError(ERR.LAB_TIMEOUT, `lab: ${message}`),
  }).catch((err: unknown) => {
    // a stop during the wait is the lab's own cancellation, not a timeout or a timer's AbortError
    throw signal?.aborted ? cancelled() : err
  })
}

/** Nodes that get the dataset first: the origin and the residential peers (not the consumer nor the datacentre peer). */
export function seedingNodes(nodes: LabNodeProcess[]): LabNodeProcess[] {
  return nodes.filter((node) => node.spec.role === 'origin' || node.spec.role === 'residential')
}

/** Races a promise against the abort signal so a long step (the experiment) yields to Ctrl-C. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return promise
  return Promise.race([
    promise,
    new Promise<never>((_, fail) => {
      if (signal.aborted) fail(cancelled())
      signal.addEventListener('abort', () => fail(cancelled()), { once: true })
    }),
  ])
}

/**
 * `bwnode lab`: a network of real daemons on this machine, one process per
 * node config, with emulated links. It seeds a dataset on the origin and the
 * residential peers, lets the consumer and then the datacentre peer fetch it
 * through the DHT while a table shows peers, RTTs, rates and credits, runs the
 * quick claim experiment, and stops everything it started.
 */
export async function runLab(options: LabOptions): Promise<LabSummary> {
  const { signal } = options
  const display = new LabDisplay(options.output, options.tty === undefined ? {} : { tty: options.tty })
  const specs = await loadLabNodes(options.nodesDir)
  const cluster = await LabCluster.create(options.tmpRoot === undefined ? {} : { tmpRoot: options.tmpRoot })
  const abortStop = (): void => void cluster.stop()
  signal?.addEventListener('abort', abortStop, { once: true })
  let refresher: NodeJS.Timeout | undefined
  let keptRunning = false
  try {
    display.log(
      `lab: starting ${specs.length} nodes from ${resolve(options.nodesDir)} (data under ${cluster.root})`,
    )
    await abortable(
      cluster.startAll(specs, (node) =>
        display.log(
          `lab: ${node.spec.name.padEnd(16)} ${node.spec.role.padEnd(11)} pid ${node.pid} api ${node.apiUrl}`,
        ),
      ),
      signal,
    )
    const nodes = cluster.nodes
    const consumer = cluster.node('consumer')
    if (consumer === undefined) throw new BwnodeError(ERR.LAB, 'lab: no consumer node')

    await waitUntil(
      'every node to join the DHT',
      async () => {
        const statuses = await Promise.all(nodes.map((node) => node.api.get<NodeStatus>('/api/status')))
        return statuses.every((s) => s.connectedPeers > 0 && s.dhtRoutingTableSize > 0) ? true : undefined
      },
      DEFAULT_DHT_TIMEOUT_MS,
      signal,
    )
    // One ping from the consumer to everyone: connections and RTT samples from the first table on.
    await Promise.all(
      nodes
        .filter((node) => node !== consumer)
        .map((node) => consumer.api.get(`/api/peers/${node.peerId}/ping`).catch(() => undefined)),
    )
    display.log(`lab: DHT formed (${nodes.length} nodes); consumer pinged every node`)

    const monitor = new LabMonitor(nodes)
    let lastRows: LabRow[] = await monitor.sample()
    let sampling = false
    const startRefresher = (): NodeJS.Timeout =>
      setInterval(() => {
        if (sampling) return
        sampling = true
        monitor
          .sample()
          .then((rows) => {
            lastRows = rows
            display.update(rows)
          })
          .catch(() => {})
          .finally(() => {
            sampling = false
          })
      }, options.refreshMs ?? DEFAULT_REFRESH_MS)
    refresher = startRefresher()

    const seedName = options.seedName ?? DEFAULT_SEED_NAME
    const seedScale = options.seedScale ?? DEFAULT_SEED_SCALE
    const seeders = seedingNodes(nodes)
    if (seeders.length === 0) throw new BwnodeError(ERR.LAB, 'lab: no origin or residential node to seed on')
    display.log(
      `lab: seeding '${seedName}' (scale ${seedScale}) on ${seeders.map((n) => n.spec.name).join(', ')}`,
    )
    const seeded = await abortable(
      Promise.all(
        seeders.map((node) => node.api.post<DatasetInfo>('/api/seeds', { name: seedName, scale: seedScale })),
      ),
      signal,
    )
    const cid = seeded[0]?.cid ?? ''
    if (seeded.some((info) => info.cid !== cid))
      throw new BwnodeError(ERR.LAB, `lab: seed '${seedName}' gave different CIDs on different nodes`)
    const datasetBytes = seeded[0]?.bytes ?? 0
    await waitUntil(
      `provider records for ${cid}`,
      async () => {
        const lists = await Promise.all(
          seeders.map((node) => node.api.get<Array<{ cid: string; provided: boolean }>>('/api/datasets')),
        )
        return lists.every((list) => list.some((d) => d.cid === cid && d.provided)) ? true : undefined
      },
      DEFAULT_PROVIDE_TIMEOUT_MS,
      signal,
    )
    display.log(`lab: ${cid} (${formatBytes(datasetBytes)}) provided by ${seeders.length} nodes`)

    const fetchers = [consumer, cluster.node('datacentre')].filter(
      (n): n is LabNodeProcess => n !== undefined,
    )
    const fetches: LabFetchSummary[] = []
    for (const fetcher of fetchers) {
      display.log(`lab: ${fetcher.spec.name} fetches ${cid} through the DHT`)
      const started = await fetcher.api.post<TransferInfo>('/api/fetch', { cid })
      const transfer = await waitUntil(
        `${fetcher.spec.name}'s fetch`,
        async () => {
          const info = await fetcher.api.get<TransferInfo>(`/api/transfers/${started.id}`)
          return info.state === 'running' ? undefined : info
        },
        DEFAULT_FETCH_TIMEOUT_MS,
        signal,
      )
      const consumerRtts = new Map(lastRows.map((row) => [row.name, row.rttP50Ms]))
      const summary = summariseFetch(fetcher, transfer, nodes, consumerRtts)
      fetches.push(summary)
      display.log(formatFetch(summary))
      if (summary.state !== 'done')
        throw new BwnodeError(
          ERR.LAB_FETCH,
          `lab: ${summary.node}'s fetch ${summary.state}: ${summary.error ?? ''}`,
        )
    }

    clearInterval(refresher)
    refresher = undefined
    lastRows = await monitor.sample()
    display.printTable(lastRows)

    let experiment: LabSummary['experiment'] = { skipped: 'not requested (--no-experiment)' }
    if (options.experiment !== false) {
      if (!options.keepRunning) {
        // The experiment runs its own nodes: give it the CPU the lab's daemons would take.
        display.log('lab: stopping the lab daemons before the experiment')
        await cluster.stop()
      }
      experiment = await runQuickExperiment(options, display)
    }

    if (options.keepRunning) {
      keptRunning = true
      cluster.keepDataDirs()
      display.log('lab: running; dashboards and APIs (Ctrl-C stops the lab):')
      for (const node of nodes) display.log(`  ${node.spec.name.padEnd(16)} ${node.apiUrl}/`)
      display.log(`lab: data dirs kept under ${cluster.root}`)
      // A terminal keeps its live table; a log would only fill up with idle lines.
      if (display.isTerminal) refresher = startRefresher()
      await new Promise<void>((done) => {
        if (signal === undefined || signal.aborted) return done()
        signal.addEventListener('abort', () => done(), { once: true })
      })
    }

    return {
      root: cluster.root,
      nodes: nodes.map((node) => ({
        name: node.spec.name,
        role: node.spec.role,
        peerId: node.peerId,
        apiUrl: node.apiUrl,
        pid: node.pid,
        dataDir: node.dataDir,
      })),
      dataset: { name: seedName, cid, bytes: datasetBytes, seededOn: seeders.map((n) => n.spec.name) },
      fetches,
      table: lastRows,
      experiment,
      keptRunning,
    }
  } finally {
    if (refresher !== undefined) clearInterval(refresher)
    signal?.removeEventListener('abort', abortStop)
    await cluster.stop()
    if (!keptRunning) display.log('lab: all daemons stopped, temp dirs removed')
    else display.log('lab: all daemons stopped')
  }
}

async function runQuickExperiment(
  options: LabOptions,
  display: LabDisplay,
): Promise<LabSummary['experiment']> {
  const run =
    options.runExperiment === undefined ? await loadRunExperiment() : (options.runExperiment ?? undefined)
  if (run === undefined) {
    const reason = 'this build has no experiment runner (src/experiment/runner.ts)'
    display.log(`lab: skipping the quick experiment: ${reason}`)
    return { skipped: reason }
  }
  const out = resolve(options.out)
  display.log(`lab: running the quick experiment (report in ${out})`)
  const outcome = await abortable(
    run({
      mode: 'quick',
      out,
      onProgress: (progress) => display.log(`  ${progressText(progress)}`),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }),
    options.signal,
  )
  const summary = summariseExperiment(outcome, out)
  display.log(`lab: report: ${summary.reportPath ?? out}`)
  for (const verdict of summary.verdicts) display.log(`  ${verdict.text}`)
  return { ...summary, skipped: null }
}

export function summariseFetch(
  fetcher: LabNodeProcess,
  transfer: TransferInfo,
  nodes: LabNodeProcess[],
  consumerRtts: Map<string, number | null>,
): LabFetchSummary {
  const byPeer = new Map(nodes.map((node) => [node.peerId, node]))
  const result = transfer.result
  const providers = (result?.providers ?? [])
    .filter((p) => p.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
    .map((p) => {
      const node = byPeer.get(p.peerId)
      return {
        name: node?.spec.name ?? p.peerId,
        bytes: p.bytes,
        rttMs: p.rttMs ?? (node === undefined ? null : (consumerRtts.get(node.spec.name) ?? null)),
        modelRttMs: node === undefined ? 0 : expectedRttMs(fetcher.spec.config.link, node.spec.config.link),
      }
    })
  const seconds = result?.seconds ?? 0
  const bytes = result?.fetchedBytes ?? 0
  return {
    node: fetcher.spec.name,
    state: transfer.state,
    bytes,
    seconds,
    throughputMBps: seconds > 0 ? bytes / seconds / 1e6 : 0,
    error: transfer.error === null ? null : `${transfer.error.code}: ${transfer.error.message}`,
    providers,
  }
}

export function formatFetch(fetch: LabFetchSummary): string {
  if (fetch.state !== 'done') return `lab: ${fetch.node}: fetch ${fetch.state} (${fetch.error ?? 'no error'})`
  const from = fetch.providers
    .map((p) => `${p.name} ${formatBytes(p.bytes)}${p.rttMs === null ? '' : ` @${p.rttMs.toFixed(1)} ms`}`)
    .join(', ')
  return `lab: ${fetch.node}: fetch done: ${formatBytes(fetch.bytes)} in ${fetch.seconds.toFixed(2)} s (${formatRate(fetch.throughputMBps * 1e6)}) from ${from}`
}
