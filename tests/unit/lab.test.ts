import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { TransferInfo } from '../../src/contract/api.ts'
import { LabDisplay } from '../../src/lab/display.ts'
import { progressText, summariseExperiment } from '../../src/lab/experiment.ts'
import { dataLabel, receivedBytes } from '../../src/lab/monitor.ts'
import { distanceKm, expectedRttMs, loadLabNodes, roleOf } from '../../src/lab/nodes.ts'
import { type LabRow, renderLabLine, renderLabTable } from '../../src/lab/table.ts'

const NODE_CONFIGS = resolve(import.meta.dirname, '../../node-configs')

function row(overrides: Partial<LabRow> = {}): LabRow {
  return {
    name: 'lab-home-1km',
    role: 'residential',
    distanceKm: 1,
    connectedPeers: 6,
    rttP50Ms: 17.2,
    modelRttMs: 16.5,
    sendBytesPerSec: 2.5e6,
    receiveBytesPerSec: 0,
    servedBytes: 3 * 2 ** 20,
    balance: 1000.5,
    earned: 0.5,
    spent: 0,
    data: 'seed x1',
    ...overrides,
  }
}

function transfer(overrides: Partial<TransferInfo>): TransferInfo {
  return {
    id: '1',
    cid: 'x',
    out: null,
    state: 'running',
    startedAt: 0,
    progress: null,
    result: null,
    error: null,
    ...overrides,
  }
}

describe('lab node configs (node-configs/lab-*.json)', () => {
  it('has one consumer first, residential peers at 1/10/100/1000 km, a datacentre peer and a ~100 ms origin', async () => {
    const nodes = await loadLabNodes(NODE_CONFIGS)
    expect(nodes[0]?.role).toBe('consumer')
    const consumer = nodes[0]?.config.link
    expect(consumer?.position).toEqual({ x: 0, y: 0 })
    const residential = nodes.filter((n) => n.role === 'residential')
    expect(residential.map((n) => distanceKm(consumer, n.config.link)).sort((a, b) => a - b)).toEqual([
      1, 10, 100, 1000,
    ])
    for (const node of residential) {
      const link = node.config.link
      expect(link?.accessLatencyMs).toBeGreaterThanOrEqual(8)
      expect(link?.accessLatencyMs).toBeLessThanOrEqual(16)
      expect(link?.uplinkMbps).toBeGreaterThanOrEqual(20)
      expect(link?.uplinkMbps).toBeLessThanOrEqual(27)
      expect(link?.routeInflation).toBe(1.5)
      // A residential peer never offers more than its uplink.
      expect(node.config.offer.uplinkMbps).toBeLessThanOrEqual(link?.uplinkMbps ?? 0)
    }
    const origin = nodes.find((n) => n.role === 'origin')
    const originRtt = expectedRttMs(consumer, origin?.config.link)
    expect(originRtt).toBeGreaterThan(90)
    expect(originRtt).toBeLessThan(110)
    const datacentre = nodes.find((n) => n.role === 'datacentre')
    expect(expectedRttMs(consumer, datacentre?.config.link)).toBeLessThan(2)
    expect(datacentre?.config.link?.uplinkMbps).toBeGreaterThanOrEqual(1000)
  })

  it('derives roles from file names and refuses a directory without exactly one consumer', async () => {
    expect(roleOf('lab-consumer')).toBe('consumer')
    expect(roleOf('lab-origin')).toBe('origin')
    expect(roleOf('lab-datacentre')).toBe('datacentre')
    expect(roleOf('lab-home-10km')).toBe('residential')
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-labcfg-'))
    try {
      await writeFile(join(dir, 'lab-home.json'), '{}')
      await writeFile(join(dir, 'lab-origin.json'), '{}')
      await expect(loadLabNodes(dir)).rejects.toMatchObject({ code: 'ERR_CONFIG' })
      await writeFile(join(dir, 'lab-consumer.json'), '{"link": {"accessLatencyMs": 1}}')
      const nodes = await loadLabNodes(dir)
      expect(nodes.map((n) => n.name)).toEqual(['lab-consumer', 'lab-home', 'lab-origin'])
      // Without a link on both ends there is no emulated delay.
      expect(expectedRttMs(nodes[0]?.config.link, nodes[1]?.config.link)).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('lab table and display', () => {
  it('renders one header and one line per node, with the consumer shown as self', () => {
    const lines = renderLabTable([row({ name: 'lab-consumer', role: 'consumer', rttP50Ms: null }), row()])
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^node\s+role\s+km\s+peers\s+rtt p50 ms\s+model rtt/)
    expect(lines[1]).toContain('(self)')
    // served 3 MiB = 3.1 MB: the table prints MB like its MB/s columns (it printed MiB, a second base)
    expect(lines[2]).toMatch(/lab-home-1km\s+residential\s+1\.0\s+6\s+17\.2\s+16\.5\s+2\.50\s+0\.00\s+3\.1/)
  })

  it('summarises busy nodes on one line for logs', () => {
    const line = renderLabLine(12, [
      row({
        name: 'lab-consumer',
        role: 'consumer',
        receiveBytesPerSec: 5e6,
        sendBytesPerSec: 0,
        data: 'fetch 40%',
      }),
      row({ sendBytesPerSec: 0, connectedPeers: 3 }),
    ])
    expect(line).toBe('[lab  12s] peers 3-6; lab-consumer fetch 40% recv 5.00 MB/s')
  })

  it('redraws the table in place on a terminal and never on a pipe', () => {
    const written: string[] = []
    const out = { write: (text: string) => written.push(text) }
    const tty = new LabDisplay(out, { tty: true })
    tty.update([row()])
    tty.log('hello')
    // Table was 2 lines: cursor up 2 and erase before the log line.
    expect(written[1]).toBe('\x1b[2F\x1b[J')
    expect(written[2]).toBe('hello\n')
    written.length = 0
    const pipe = new LabDisplay(out, { tty: false })
    pipe.update([row()])
    pipe.log('next')
    expect(written.join('')).not.toContain('\x1b[')
    expect(written).toHaveLength(2)
  })
})

describe('lab monitor helpers', () => {
  it('counts fetched bytes from results and running progress, and labels the state', () => {
    const done = transfer({
      state: 'done',
      result: {
        cid: 'x',
        name: 'shards',
        bytes: 100,
        complete: true,
        fetchedBytes: 80,
        seconds: 1.25,
        resumedChunks: 0,
        providers: [
          { peerId: 'a', bytes: 50 } as never,
          { peerId: 'b', bytes: 30 } as never,
          { peerId: 'c', bytes: 0 } as never,
        ],
        losses: [],
        ranking: '',
        localityBias: 1,
        localitySuspended: 0,
        out: null,
      },
    })
    const running = transfer({
      id: '2',
      progress: {
        cid: 'y',
        name: 'y',
        totalBytes: 200,
        doneBytes: 50,
        totalChunks: 4,
        doneChunks: 1,
        resumedChunks: 0,
        activeProviders: 2,
        bytesPerSec: 0,
      },
    })
    expect(receivedBytes([running, done])).toBe(130)
    expect(dataLabel([running, done], [])).toBe('fetch 25%')
    expect(dataLabel([done], [])).toBe('fetched 1.3s from 2')
    expect(dataLabel([transfer({})], [])).toBe('fetch (finding providers)')
    expect(dataLabel([], [{ cid: 'x', complete: true }])).toBe('seed x1')
    expect(dataLabel([], [])).toBe('')
  })
})

describe('lab experiment summary', () => {
  it("reads the runner's outcome: report path and one line per workload verdict", () => {
    const summary = summariseExperiment(
      {
        reportPath: '/r/report.md',
        results: {},
        verdicts: [
          {
            workload: 'W1-random-samples',
            status: 'holds',
            reason: 'local wins',
            confidence: 'high',
            ratio: { ratio: 3.456 },
            winner: { cell: { placement: 'P0-local-warm' } },
          },
          { workload: 'W3-token-stream', status: 'fails' },
        ],
      },
      '/r',
    )
    expect(summary.reportPath).toBe('/r/report.md')
    expect(summary.verdicts.map((v) => v.text)).toEqual([
      'W1-random-samples: claim holds, winner P0-local-warm x3.46, confidence high (local wins)',
      'W3-token-stream: claim fails',
    ])
    expect(summariseExperiment(undefined, '/out').reportPath).toBe('/out/report.md')
    expect(progressText('step 1')).toBe('step 1')
    expect(progressText({ message: 'm' })).toBe('m')
  })
})
