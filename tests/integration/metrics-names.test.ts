import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import type { DatasetInfo, TransferInfo } from '../../src/contract/api.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { METRIC_LABEL_LIMIT, OTHER_LABEL } from '../../src/node/metrics.ts'
import { packageVersion } from '../../src/util/version.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { type Family, parsePrometheus, sumOf } from '../helpers/metrics-prom.ts'

/**
 * The names, types and labels of /metrics, scraped from a daemon started in this process:
 * Prometheus' conventions (unit last and plural, `_total` on counters), the table in docs/API.md,
 * bounded label values, the process collectors and bwnode_build_info.
 */

/** Every bwnode_ family: its type and label names. docs/API.md lists the same. */
const EXPECTED: Record<string, { type: Family['type']; labels: string[] }> = {
  bwnode_served_bytes_total: { type: 'counter', labels: ['peer'] },
  bwnode_fetched_bytes_total: { type: 'counter', labels: ['peer'] },
  bwnode_dataset_served_bytes_total: { type: 'counter', labels: ['dataset'] },
  bwnode_chunk_latency_seconds: { type: 'histogram', labels: [] },
  bwnode_peer_rtt_seconds: { type: 'histogram', labels: [] },
  bwnode_peer_rtt_last_seconds: { type: 'gauge', labels: ['peer'] },
  bwnode_fetches_total: { type: 'counter', labels: ['outcome'] },
  bwnode_fetch_failures_total: { type: 'counter', labels: ['code'] },
  bwnode_bad_chunks_total: { type: 'counter', labels: [] },
  bwnode_refused_payments_total: { type: 'counter', labels: ['reason'] },
  bwnode_build_info: { type: 'gauge', labels: ['version'] },
  bwnode_earned_credits_total: { type: 'counter', labels: [] },
  bwnode_spent_credits_total: { type: 'counter', labels: [] },
  bwnode_balance_credits: { type: 'gauge', labels: [] },
  bwnode_dht_routing_table_size: { type: 'gauge', labels: [] },
  bwnode_provided_datasets: { type: 'gauge', labels: [] },
  bwnode_dht_provider_records: { type: 'gauge', labels: [] },
  bwnode_active_transfers: { type: 'gauge', labels: [] },
  bwnode_store_bytes: { type: 'gauge', labels: [] },
  bwnode_store_chunks: { type: 'gauge', labels: [] },
  bwnode_disk_free_bytes: { type: 'gauge', labels: [] },
  bwnode_disk_size_bytes: { type: 'gauge', labels: [] },
}

const UNITS = ['bytes', 'seconds', 'credits']

/** A CID nobody holds: a fetch of it fails (no providers) on a node alone. */
const UNKNOWN_CID = 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea'

describe('/metrics names, types and labels', () => {
  let daemon: RunningDaemon
  const scrape = async (): Promise<Map<string, Family>> => {
    const response = await fetch(`${daemon.api.url}/metrics`)
    expect(response.status).toBe(200)
    return parsePrometheus(await response.text())
  }
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${daemon.api.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${daemon.api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(200)
    return (await response.json()) as T
  }

  beforeAll(async () => {
    daemon = await startDaemon(
      parseConfig({ dataDir: await tempDir(), listen: ['/ip4/127.0.0.1/tcp/0'] }, 'metrics test'),
    )
  })
  afterAll(async () => {
    await daemon?.stop()
  })

  it('follows the conventions: unit last, _total on counters, no old names', async () => {
    const families = await scrape()
    const ours = [...families.values()].filter((f) => f.name.startsWith('bwnode_'))
    expect(Object.fromEntries(ours.map((f) => [f.name, f.type]))).toEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([name, { type }]) => [name, type])),
    )
    for (const family of ours) {
      expect(family.name).toMatch(/^bwnode_[a-z][a-z0-9_]*[a-z0-9]$/)
      expect(family.help.length, family.name).toBeGreaterThan(10)
      if (family.type === 'counter') expect(family.name, 'a counter ends in _total').toMatch(/_total$/)
      else expect(family.name, 'only counters end in _total').not.toMatch(/_total$/)
      // A unit appears only as the last word (before _total): bwnode_served_bytes_total, not bwnode_bytes_served_total.
      const words = family.name.replace(/_total$/, '').split('_')
      for (const unit of UNITS) {
        const at = words.indexOf(unit)
        if (at >= 0) expect(at, `${family.name}: the unit ${unit} goes last`).toBe(words.length - 1)
      }
      for (const sample of family.samples) {
        const labels = Object.keys(sample.labels).filter((l) => l !== 'le')
        for (const label of labels) expect(EXPECTED[family.name]!.labels, family.name).toContain(label)
      }
    }
    for (const old of ['bwnode_bytes_served_total', 'bwnode_bytes_fetched_total', 'bwnode_credits_earned']) {
      expect(families.has(old), old).toBe(false)
    }
  })

  it('docs/API.md lists exactly these metrics, with their types and labels', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/API.md'), 'utf8')
    const section = doc.slice(doc.indexOf('## Metrics'))
    const rows = new Map<string, { type: string; labels: string[] }>()
    for (const match of section.matchAll(/^\| `(bwnode_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|/gm)) {
      const labels = [...match[3]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!)
      rows.set(match[1]!, { type: match[2]!, labels })
    }
    expect(Object.fromEntries(rows)).toEqual(
      Object.fromEntries(
        Object.entries(EXPECTED).map(([name, { type, labels }]) => [name, { type, labels }]),
      ),
    )
  })

  it('the Grafana dashboard in docs/ reads only metrics the node exports', async () => {
    const families = await scrape()
    const dashboard = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../docs/grafana-dashboard.json'), 'utf8'),
    ) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }
    const used = new Set<string>()
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0)
      for (const { expr } of panel.targets) {
        for (const [name] of expr.matchAll(/\b(?:bwnode|process|nodejs)_[a-z0-9_]+/g)) {
          used.add(name.replace(/_(bucket|sum|count)$/, ''))
        }
      }
    }
    expect(used.size).toBeGreaterThan(15)
    for (const name of used) expect(families.has(name), name).toBe(true)
  })

  it('says which build this is, and describes the process', async () => {
    const families = await scrape()
    expect(families.get('bwnode_build_info')?.samples).toEqual([
      { name: 'bwnode_build_info', labels: { version: packageVersion() }, value: 1 },
    ])
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(families.has(name), name).toBe(true)
    }
    expect(sumOf(families, 'process_cpu_seconds_total')).toBeGreaterThan(0)
  })

  it('bounds the peer and dataset labels: the first peers seen keep theirs, the rest are "other"', async () => {
    const metrics = daemon.node.metrics
    const extra = 7
    for (let i = 0; i < METRIC_LABEL_LIMIT + extra; i++) {
      metrics.served(`peer-${i}`, 100)
      metrics.fetched(`peer-${i}`, 10)
      metrics.servedFor(`dataset-${i}`, 1)
      metrics.observeRtt(`peer-${i}`, i)
    }
    metrics.served('peer-0', 100) // a labelled peer keeps its label
    const families = await scrape()
    const served = families.get('bwnode_served_bytes_total')!.samples
    expect(served).toHaveLength(METRIC_LABEL_LIMIT + 1)
    expect(sumOf(families, 'bwnode_served_bytes_total', undefined, { peer: 'peer-0' })).toBe(200)
    expect(sumOf(families, 'bwnode_served_bytes_total', undefined, { peer: OTHER_LABEL })).toBe(extra * 100)
    expect(sumOf(families, 'bwnode_fetched_bytes_total', undefined, { peer: OTHER_LABEL })).toBe(extra * 10)
    const datasets = families.get('bwnode_dataset_served_bytes_total')!.samples
    expect(datasets).toHaveLength(METRIC_LABEL_LIMIT + 1)
    expect(sumOf(families, 'bwnode_dataset_served_bytes_total', undefined, { dataset: OTHER_LABEL })).toBe(
      extra,
    )
    // The last-RTT gauge keeps the peers measured most recently.
    const rtts = families.get('bwnode_peer_rtt_last_seconds')!.samples
    expect(rtts.map((s) => s.labels.peer)).toEqual(
      Array.from({ length: METRIC_LABEL_LIMIT }, (_, i) => `peer-${i + extra}`),
    )
    expect(
      sumOf(families, 'bwnode_peer_rtt_seconds', 'bwnode_peer_rtt_seconds_count'),
    ).toBeGreaterThanOrEqual(METRIC_LABEL_LIMIT + extra)
  })

  it('counts the store and the disk, and failed fetches by code', async () => {
    const dataset = await post<DatasetInfo>('/api/seeds', { name: 'tiny' })
    const transfer = await post<TransferInfo>('/api/fetch', { cid: UNKNOWN_CID })
    const failed = await waitFor(
      async () => {
        const t = (await (
          await fetch(`${daemon.api.url}/api/transfers/${transfer.id}`)
        ).json()) as TransferInfo
        return t.state === 'running' ? undefined : t
      },
      { timeoutMs: 60_000, what: 'the fetch of an unknown CID to fail' },
    )
    expect(failed.state).toBe('failed')
    const families = await scrape()
    const stored = sumOf(families, 'bwnode_store_bytes')
    expect(stored).toBeGreaterThan(0)
    expect(stored).toBeLessThanOrEqual(dataset.bytes)
    expect(sumOf(families, 'bwnode_store_chunks')).toBeGreaterThan(0)
    const free = sumOf(families, 'bwnode_disk_free_bytes')
    expect(free).toBeGreaterThan(0)
    expect(free).toBeLessThanOrEqual(sumOf(families, 'bwnode_disk_size_bytes'))
    expect(sumOf(families, 'bwnode_fetches_total', undefined, { outcome: 'failed' })).toBe(1)
    expect(sumOf(families, 'bwnode_fetch_failures_total', undefined, { code: failed.error!.code })).toBe(1)
    expect(sumOf(families, 'bwnode_bad_chunks_total')).toBe(0)
    expect(sumOf(families, 'bwnode_earned_credits_total')).toBe(0)
    expect(sumOf(families, 'bwnode_balance_credits')).toBeGreaterThan(0)
  })
})
