/**
 * The child side of cross-process-protocol.ts, shared by the benchmark's child scripts
 * (cross-process-peer.ts, swarm-host.ts): answering the parent's requests over Node's IPC channel,
 * and this process's CPU time and memory.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Envelope, ReadyMessage, Reply } from './cross-process-protocol.ts'

/** This process's CPU time (user + system, every thread), seconds. */
export function processCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Tells the parent the child is ready (or why it is not). */
export function sendReady(message: ReadyMessage): void {
  process.send?.(message)
}

/**
 * Answers the parent's requests one at a time, in order, as it sends them: the parent times a
 * transfer, and nothing else should run in this process meanwhile. A request that throws is
 * answered with its error. When the parent is gone (killed, or it forgot us) the child exits: a
 * benchmark process must not outlive it.
 */
export function serveParent<R extends { op: string }>(handle: (request: R) => Promise<unknown>): void {
  let queue = Promise.resolve()
  process.on('message', (message: Envelope<R>) => {
    queue = queue.then(async () => {
      let reply: Reply
      try {
        reply = { id: message.id, ok: true, value: await handle(message.request) }
      } catch (err) {
        reply = { id: message.id, ok: false, error: (err as Error).stack ?? String(err) }
      }
      process.send?.(reply)
    })
  })
  process.on('disconnect', () => process.exit(1))
}

/** Forces a full collection, so an RSS reading measures what the process keeps, not garbage. */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}
