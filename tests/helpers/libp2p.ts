import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'

export type TestNode = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>> }>

/**
 * A minimal real libp2p node for tests: TCP on 127.0.0.1 (random port), noise, yamux, identify.
 * Nothing else (no DHT, no discovery) so tests only see the traffic they cause.
 */
export async function createTestNode(): Promise<TestNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
}

/** Starts `count` nodes; the caller stops them with stopNodes(). */
export async function createTestNodes(count: number): Promise<TestNode[]> {
  return Promise.all(Array.from({ length: count }, () => createTestNode()))
}

/** Dials `to` from `from` over its loopback address so a connection exists. */
export async function connect(from: TestNode, to: TestNode): Promise<void> {
  const addr = to.getMultiaddrs()[0]
  if (addr === undefined) throw new Error('node has no listen address')
  await from.dial(addr)
}

export async function stopNodes(nodes: TestNode[]): Promise<void> {
  await Promise.allSettled(nodes.map((n) => n.stop()))
}

/**
 * A server and a client node, connected before each test and stopped after it. Read `server` and
 * `client` inside the tests (they change per test).
 */
export function connectedPairEachTest(hooks: {
  beforeEach: (fn: () => Promise<void>) => void
  afterEach: (fn: () => Promise<void>) => void
}): { readonly server: TestNode; readonly client: TestNode } {
  let nodes: TestNode[] = []
  hooks.beforeEach(async () => {
    nodes = await createTestNodes(2)
    await connect(nodes[1] as TestNode, nodes[0] as TestNode)
  })
  hooks.afterEach(async () => {
    await stopNodes(nodes)
  })
  return {
    get server() {
      return nodes[0] as TestNode
    },
    get client() {
      return nodes[1] as TestNode
    },
  }
}
