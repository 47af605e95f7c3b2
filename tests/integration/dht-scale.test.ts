import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { dhtScaleBench, dhtScaleOptions } from '../../scripts/bench/dht-processes.ts'
import type { BenchResult } from '../../scripts/bench/types.ts'

const workDir = await mkdtemp(join(tmpdir(), 'bwnode-dht-scale-'))
const lines: string[] = []

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

function figure(results: BenchResult[], name: string): BenchResult {
  const found = results.find((r) => r.name === `dht_scale.${name}`)
  if (found === undefined) throw new Error(`no dht_scale.${name} in ${results.map((r) => r.name).join(', ')}`)
  return found
}

/**
 * The bench's DHT at scale in its CI size: 40 bwnode nodes over 2 processes, each behind an
 * emulated home link. What it checks is that the DHT works across processes; its figures
 * (times, RSS, CPU) are the bench's to report, not this test's to bound.
 */
describe('a DHT of 40 nodes over 2 processes', () => {
  it('spreads the nodes over both processes, fills routing tables and finds providers across processes', async () => {
    const options = dhtScaleOptions(true)
    expect(options).toMatchObject({ nodes: 40, processes: 2 })
    const results = await dhtScaleBench(
      { quick: true, workDir, log: (line) => lines.push(line) },
      options,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${lines.join('\n')}`)
    })
    const context = lines.join('\n')
    expect(figure(results, 'nodes').value).toBe(40)
    expect(figure(results, 'nodes').note).toMatch(/^2 processes; 0 join dials failed/)
    // a node knows more than the few it joined through: the DHT's own walks filled its table
    expect(figure(results, 'routing_table_p50').value, context).toBeGreaterThan(3)
    // every lookup starts in the other process than the provider's; most must find it there
    const failed = figure(results, 'lookups_failed').value as number
    expect(failed, context).toBeLessThanOrEqual(options.lookups / 2)
    const local = figure(results, 'answered_locally')
    const found = Number(/of (\d+)/.exec(local.unit)?.[1])
    expect(found - (local.value as number), context).toBeGreaterThan(0)
    expect(figure(results, 'hops_p99').value, context).toBeGreaterThanOrEqual(1)
    for (const name of ['rss_per_node', 'rest_cpu_per_node', 'median_link_rtt']) {
      expect(figure(results, name).value, name).toBeGreaterThan(0)
    }
  }, 240_000)
})
