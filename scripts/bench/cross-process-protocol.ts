/**
 * The parent side of the cross-process benchmark: one child process per peer
 * (scripts/bench/cross-process-peer.ts), driven over Node's IPC channel with
 * request/reply messages. The channel survives `ip netns exec` (ip execs the
 * child in place, so the channel's file descriptor is inherited), which is what
 * lets the same driver place a peer in a network namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PEER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'cross-process-peer.ts')
const READY_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

export type Role = 'provider' | 'fetcher'
export type Kind = 'tcp' | 'bare' | 'fetch'

/** What a child reports about one transfer it took part in. */
export interface Transfer {
  bytes: number
  /** Wall time of the transfer as the fetcher saw it (connect/dial to last byte), seconds. */
  seconds: number
  /** process.cpuUsage() user + system over the transfer, seconds (all threads of the process). */
  cpuSeconds: number
  /** bwnode fetch only: bytes/s from the first chunk's arrival to the last one stored (StoreStamps). */
  steadyBytesPerSec?: number
}

/** Provider: a dataset it holds, and where the two baselines serve the same bytes. */
export interface ServedDataset {
  cid: string
  tcpPort: number
  bareProtocol: string
  bytes: number
}

export interface PeerReady {
  peerId: string
  multiaddrs: string[]
}

export type Request =
  | { op: 'dataset'; key: string; bytes: number }
  | { op: 'provide'; cid: string }
  | { op: 'dial'; multiaddr: string }
  | { op: 'wait-providers'; cid: string }
  | { op: 'cpu-mark' }
  | { op: 'cpu-read' }
  | {
      op: 'transfer'
      kind: Kind
      host: string
      tcpPort: number
      peerId: string
      bareProtocol: string
      cid: string
    }
  | { op: 'profile-start' }
  /** Writes the V8 CPU profile since profile-start to this path. */
  | { op: 'profile-stop'; path: string }
  | { op: 'stop' }

export type Envelope<R extends { op: string } = Request> = { id: number; request: R }
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }
export type ReadyMessage = { ready: PeerReady } | { failed: string }

export interface PeerOptions {
  role: Role
  /** The child's script: cross-process-peer.ts unless given (it takes ROLE HOST DATA_DIR too). */
  script?: string
  /** The address this peer listens on (TCP baseline and libp2p). */
  host: string
  dataDir: string
  /** Run the child inside this network namespace (`ip netns exec`). */
  netns?: string
  log(line: string): void
}

/** One peer in a child process; `R`: the requests its script answers. */
export class PeerProcess<R extends { op: string } = Request> {
  private nextId = 0
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>()
  private exited: Error | undefined
  readonly role: Role
  readonly ready: PeerReady
  private readonly child: ChildProcess

  private constructor(role: Role, child: ChildProcess, ready: PeerReady) {
    this.role = role
    this.child = child
    this.ready = ready
  }

  static async start<R extends { op: string } = Request>(options: PeerOptions): Promise<PeerProcess<R>> {
    const nodeArgs = [options.script ?? PEER_SCRIPT, options.role, options.host, options.dataDir]
    const [command, args] =
      options.netns === undefined
        ? [process.execPath, nodeArgs]
        : ['ip', ['netns', 'exec', options.netns, process.execPath, ...nodeArgs]]
    // stdout stays free for the bench's --json report: everything a child prints goes to the log.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) options.log(`${options.role}: ${line}`)
    }
    child.stdout?.on('data', forward)
    child.stderr?.on('data', forward)
    const ready = await new Promise<PeerReady>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${options.role} did not start within ${READY_TIMEOUT_MS} ms`))
      }, READY_TIMEOUT_MS)
      child.once('message', (message: ReadyMessage) => {
        clearTimeout(timer)
        if ('ready' in message) resolve(message.ready)
        else reject(new Error(`${options.role} failed to start: ${message.failed}`))
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${options.role} exited before it was ready (code ${code}, signal ${signal})`))
      })
      child.once('error', reject)
    })
    const peer = new PeerProcess<R>(options.role, child, ready)
    child.on('message', (reply: Reply) => peer.settle(reply))
    child.on('exit', (code, signal) => {
      peer.exited = new Error(`${options.role} exited (code ${code}, signal ${signal})`)
      for (const waiter of peer.pending.values()) waiter.reject(peer.exited)
      peer.pending.clear()
    })
    return peer
  }

  /** The child's process id (with `ip netns exec` too: ip execs node in place). */
  get pid(): number {
    return this.child.pid as number
  }

  request<T>(request: R | { op: 'stop' }): Promise<T> {
    if (this.exited !== undefined) return Promise.reject(this.exited)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.child.send({ id, request } satisfies Envelope<R | { op: 'stop' }>)
    })
  }

  /** Asks the child to stop its node and exit; killed if it has not within STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    if (this.exited !== undefined || this.child.exitCode !== null) return
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.request({ op: 'stop' }).catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await gone
    clearTimeout(timer)
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id)
    if (waiter === undefined) return
    this.pending.delete(reply.id)
    if (reply.ok) waiter.resolve(reply.value)
    else waiter.reject(new Error(`${this.role}: ${reply.error}`))
  }
}
