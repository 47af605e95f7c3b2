import { afterAll, describe, expect, it } from 'vitest'
import type { DatasetInfo } from '../../src/contract/api.ts'
import { waitFor } from '../helpers/daemon.ts'
import { callApi, fetchDataset, type LabNode, startLabNode, writeConfig } from '../helpers/dashboard-lab.ts'
import { type Family, parsePrometheus, sumOf } from '../helpers/metrics-prom.ts'

async function scrape(node: LabNode): Promise<Map<string, Family>> {
  const response = await fetch(`${node.apiUrl}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheus(await response.text())
}

describe('parsePrometheus', () => {
  it('reads samples and rejects malformed text', () => {
    const families = parsePrometheus(
      [
        '# HELP x_total things',
        '# TYPE x_total counter',
        'x_total{peer="a\\"b",k="v"} 3',
        '# TYPE h histogram',
        'h_bucket{le="1"} 1',
        'h_bucket{le="+Inf"} 2',
        'h_sum 1.5',
        'h_count 2',
      ].join('\n'),
    )
    expect(sumOf(families, 'x_total', 'x_total', { peer: 'a"b' })).toBe(3)
    expect(sumOf(families, 'h', 'h_count')).toBe(2)
    expect(() => parsePrometheus('y 1')).toThrow(/no TYPE/)
    expect(() => parsePrometheus('# TYPE y gauge\ny{a=1} 1')).toThrow(/quoted/)
    expect(() => parsePrometheus('# TYPE y gauge\ny one')).toThrow(/bad value/)
    expect(Number.isNaN(sumOf(parsePrometheus('# TYPE y gauge\ny Nan'), 'y'))).toBe(true)
    expect(() =>
      parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1'),
    ).toThrow(/decrease/)
  })
})

/**
 * Two daemon processes: A seeds, B fetches. /metrics on both parses as
 * Prometheus text, and the counters for bytes, chunk latency, RTT and
 * credits move with the fetch.
 */
describe('/metrics on a real fetch', () => {
  const nodes: LabNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
  })

  it('parses and its counters move after a fetch', async () => {
    const config = await writeConfig({
      offer: { uplinkMbps: 0, pricePerGiB: 100 },
      latency: { pingIntervalMs: 300 },
    })
    const a = await startLabNode(['--config', config])
    nodes.push(a)
    const b = await startLabNode(['--config', config, '--bootstrap', `${a.listen[0]}`])
    nodes.push(b)
    const dataset = await callApi<DatasetInfo>(a, 'POST', '/api/seeds', { name: 'tiny' })

    const beforeA = await scrape(a)
    const beforeB = await scrape(b)
    expect(sumOf(beforeA, 'bwnode_served_bytes_total')).toBe(0)
    expect(sumOf(beforeB, 'bwnode_fetched_bytes_total')).toBe(0)
    expect(sumOf(beforeB, 'bwnode_spent_credits_total')).toBe(0)
    // libp2p's own metrics share the registry.
    expect([...beforeA.keys()].some((name) => name.startsWith('libp2p_'))).toBe(true)

    const transfer = await fetchDataset(b, dataset.cid)
    expect(transfer.result?.bytes).toBe(dataset.bytes)
    // Unique chunk bytes that crossed the wire (a chunk repeated in the manifest moves once).
    const fetched = transfer.result!.fetchedBytes
    expect(fetched).toBeGreaterThan(0)

    // Served-side accounting is attributed asynchronously (voucher, dataset index): wait for it.
    const afterA = await waitFor(
      async () => {
        const m = await scrape(a)
        return sumOf(m, 'bwnode_dataset_served_bytes_total', undefined, { dataset: dataset.cid }) >=
          fetched && sumOf(m, 'bwnode_earned_credits_total') > 0
          ? m
          : undefined
      },
      { what: 'A to account the served dataset and the credits earned' },
    )
    const afterB = await waitFor(
      async () => {
        const m = await scrape(b)
        return sumOf(m, 'bwnode_peer_rtt_seconds', 'bwnode_peer_rtt_seconds_count') > 0 ? m : undefined
      },
      { what: 'B to measure an RTT' },
    )

    expect(sumOf(afterA, 'bwnode_served_bytes_total', undefined, { peer: b.peerId })).toBeGreaterThanOrEqual(
      fetched,
    )
    expect(sumOf(afterB, 'bwnode_fetched_bytes_total', undefined, { peer: a.peerId })).toBe(fetched)
    expect(
      sumOf(afterB, 'bwnode_chunk_latency_seconds', 'bwnode_chunk_latency_seconds_count'),
    ).toBeGreaterThan(0)
    expect(sumOf(afterB, 'bwnode_spent_credits_total')).toBeGreaterThan(0)
    expect(sumOf(afterB, 'bwnode_balance_credits')).toBeLessThan(sumOf(beforeB, 'bwnode_balance_credits'))
    expect(sumOf(afterA, 'bwnode_earned_credits_total')).toBeGreaterThan(0)
    expect(sumOf(afterB, 'bwnode_peer_rtt_last_seconds', undefined, { peer: a.peerId })).toBeGreaterThan(0)
    for (const m of [afterA, afterB]) {
      expect(sumOf(m, 'bwnode_dht_routing_table_size')).toBeGreaterThanOrEqual(1)
      expect(sumOf(m, 'bwnode_active_transfers')).toBe(0)
    }
    expect(sumOf(afterB, 'bwnode_fetches_total', undefined, { outcome: 'done' })).toBe(1)
    expect(sumOf(afterB, 'bwnode_store_bytes')).toBeGreaterThanOrEqual(fetched)
    expect(sumOf(afterA, 'bwnode_store_bytes')).toBe(sumOf(afterB, 'bwnode_store_bytes'))
    // A daemon is one node per process: it describes the process too.
    expect(sumOf(afterA, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sumOf(afterA, 'bwnode_provided_datasets')).toBe(1)
    // A announced the dataset: the provider record sits with A and/or its DHT neighbour B.
    expect(
      sumOf(afterA, 'bwnode_dht_provider_records') + sumOf(afterB, 'bwnode_dht_provider_records'),
    ).toBeGreaterThanOrEqual(1)
  })
})
