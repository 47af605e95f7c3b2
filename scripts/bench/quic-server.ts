/**
 * The server side of the quic section, in its own process (as on a real machine: the sender's
 * CPU is not shared with the receiver's). Started by scripts/bench/quic.ts over an IPC channel:
 * it listens with both stacks, reports their addresses, answers CPU-usage snapshots so the parent
 * can measure this side's CPU around a transfer, and exits on 'stop' or when the parent goes.
 */
import type { Libp2p } from '@libp2p/interface'
import { bareNode, type StackName, serveBulk } from './quic-nodes.ts'

export type ToServer = { type: 'cpu'; id: number } | { type: 'stop' }
export type FromServer =
  | { type: 'ready'; addrs: Record<StackName, string> }
  | { type: 'cpu'; id: number; usage: NodeJS.CpuUsage }
  | { type: 'failed'; message: string }

function send(message: FromServer): void {
  process.send?.(message)
}

if (process.send === undefined) {
  console.error('quic-server.ts is started by scripts/bench/quic.ts over IPC, not by hand')
  process.exit(2)
}

const nodes: Libp2p[] = []
async function stop(code: number): Promise<never> {
  await Promise.allSettled(nodes.map((node) => node.stop()))
  process.exit(code)
}

process.on('disconnect', () => void stop(0))
process.on('message', (message: ToServer) => {
  if (message.type === 'cpu') send({ type: 'cpu', id: message.id, usage: process.cpuUsage() })
  else if (message.type === 'stop') void stop(0)
})

try {
  const addrs: Partial<Record<StackName, string>> = {}
  for (const stack of ['tcp', 'quic'] as const) {
    const node = await bareNode(stack)
    nodes.push(node)
    await serveBulk(node)
    const addr = node.getMultiaddrs()[0]
    if (addr === undefined) throw new Error(`the ${stack} node listens on no address`)
    addrs[stack] = addr.toString()
  }
  send({ type: 'ready', addrs: addrs as Record<StackName, string> })
} catch (err) {
  send({ type: 'failed', message: (err as Error).stack ?? String(err) })
  await stop(1)
}
