import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { startNode } from '../../src/experiment/nodes.ts'
import { consumerLink, residentialLink } from '../../src/experiment/scenarios.ts'
import { connectAndPing, stopAll } from '../../src/lab/swarm.ts'
import { LinkSwitch } from '../../src/net/link-switch.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { waitFor } from '../helpers/daemon.ts'

/** A home peer leaving the network and coming back, with real nodes over TCP on 127.0.0.1. */
describe('LinkSwitch (churn) on real nodes', () => {
  const nodes: Bwnode[] = []
  let dir = ''
  afterAll(async () => {
    await stopAll(nodes)
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('resets every connection on down(), refuses dials until up(), then connects again', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bwnode-link-switch-'))
    const linkSwitch = new LinkSwitch()
    const consumer = await startNode({ dataDir: join(dir, 'consumer'), link: consumerLink(), emulator: {} })
    nodes.push(consumer)
    const peer = await startNode({
      dataDir: join(dir, 'peer'),
      link: residentialLink(10, 0, 1),
      emulator: { linkSwitch },
    })
    nodes.push(peer)
    await connectAndPing(consumer, peer)
    expect(consumer.libp2p.getConnections(peer.peerId).length).toBeGreaterThan(0)

    linkSwitch.down()
    await waitFor(async () => (consumer.libp2p.getConnections(peer.peerId).length === 0 ? true : undefined), {
      what: 'the consumer to see the connection reset',
      timeoutMs: 10_000,
      intervalMs: 20,
    })
    const addr = multiaddr(peer.libp2p.getMultiaddrs()[0]!.toString())
    await expect(consumer.libp2p.dial(addr, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()

    linkSwitch.up()
    const rtt = await connectAndPing(consumer, peer)
    expect(rtt).toBeGreaterThan(0)
    expect(consumer.libp2p.getConnections(peer.peerId).length).toBeGreaterThan(0)
  }, 60_000)
})
