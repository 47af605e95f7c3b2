import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode } from '../../src/lab/swarm.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'

/**
 * The latency pinger is the node's heartbeat (libp2p's connection monitor is off): a peer that
 * stops answering pings loses its connections after two missed pings; one that answers keeps them.
 */
const PING = '/ipfs/ping/1.0.0'
let root: string
const nodes: Bwnode[] = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bwnode-heartbeat-'))
})

afterAll(async () => {
  await Promise.allSettled(nodes.map((node) => node.stop()))
  await rm(root, { recursive: true, force: true })
})

async function pair(name: string, dropSilentPeers: boolean): Promise<[Bwnode, Bwnode]> {
  const config = { latency: { pingIntervalMs: 200 } }
  const a = await startNode({
    dataDir: join(root, `${name}-a`),
    config,
    bootstrap: [],
    libp2p: { abortConnectionOnPingFailure: dropSilentPeers },
  })
  nodes.push(a)
  const b = await startNode({ dataDir: join(root, `${name}-b`), config, bootstrap: [] })
  nodes.push(b)
  await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!)
  return [a, b]
}

/** b keeps its connection but stops answering pings: a host that hangs. */
async function silence(b: Bwnode): Promise<void> {
  await b.libp2p.unhandle(PING)
  await b.libp2p.handle(PING, () => {}, { maxInboundStreams: 64 })
}

describe('the pinger as heartbeat', () => {
  it('aborts the connections of a peer that misses two pings, and keeps a peer that answers', async () => {
    const [a, b] = await pair('drop', true)
    const connection = a.libp2p.getConnections(b.peerId)[0]!
    // a second of 200 ms rounds: answered pings never drop anyone
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(connection.status).toBe('open')
    await silence(b)
    // two pings of 5 s each unanswered
    await expect.poll(() => connection.status, { timeout: 25_000, interval: 200 }).not.toBe('open')
  }, 40_000)

  it('keeps the connection when the node is told not to drop (a lab in dilated time)', async () => {
    const [a, b] = await pair('keep', false)
    const connection = a.libp2p.getConnections(b.peerId)[0]!
    await silence(b)
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    expect(connection.status).toBe('open')
  }, 30_000)
})
