/**
 * QUIC (@chainsafe/libp2p-quic) beside TCP + noise + yamux, between two processes on 127.0.0.1:
 * this process holds the client (receiving) nodes, a child process holds the server (sending)
 * nodes. Side by side in the same run, the order alternating per round:
 *   - throughput of one bare stream and of 4 parallel streams on one connection (MB/s),
 *   - CPU-seconds per GB moved, on each side (process.cpuUsage around the transfer: all threads,
 *     so QUIC's native worker threads count),
 *   - handshake round trips through a relay that delays every byte or datagram D ms one way:
 *     the time to a dialled connection, and then to the first byte of a new stream on it, / RTT.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { median } from '../../src/util/stats.ts'
import { type Relay, tcpDelayRelay, udpDelayRelay } from './delay-relay.ts'
import { BULK_PROTOCOL, bareNode, readBulk, type StackName } from './quic-nodes.ts'
import type { FromServer, ToServer } from './quic-server.ts'
import { tcpEchoMs, udpEchoMs } from './relay-echo.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const MiB = 2 ** 20
/** One-way delay of the relays: RTT 50 ms, a continental path. */
const DELAY_MS = 25
const RTT_MS = 2 * DELAY_MS
const STACKS: StackName[] = ['tcp', 'quic']
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Server {
  addrs: Record<StackName, string>
  /** The child's cumulative CPU usage, now. */
  cpu(): Promise<NodeJS.CpuUsage>
  stop(): Promise<void>
}

/** Start scripts/bench/quic-server.ts with the project's Node and wait for its addresses. */
async function startServer(): Promise<Server> {
  const child: ChildProcess = fork(join(root, 'scripts', 'bench', 'quic-server.ts'), [], {
    execPath: join(root, 'node_modules', '.bin', 'node'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const waiting = new Map<number, (usage: NodeJS.CpuUsage) => void>()
  let nextId = 0
  const addrs = await new Promise<Record<StackName, string>>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('quic server: no addresses within 30 s')), 30_000)
    child.once('exit', (code) => reject(new Error(`quic server exited (code ${code}) before it was ready`)))
    child.on('message', (message: FromServer) => {
      if (message.type === 'ready') {
        clearTimeout(timer)
        resolvePromise(message.addrs)
      } else if (message.type === 'failed') {
        clearTimeout(timer)
        reject(new Error(`quic server failed to start: ${message.message}`))
      } else if (message.type === 'cpu') {
        waiting.get(message.id)?.(message.usage)
        waiting.delete(message.id)
      }
    })
  })
  const post = (message: ToServer): void => {
    child.send(message)
  }
  return {
    addrs,
    cpu: () =>
      new Promise((resolvePromise) => {
        const id = nextId++
        waiting.set(id, resolvePromise)
        post({ type: 'cpu', id })
      }),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolvePromise) => child.once('exit', resolvePromise))
      post({ type: 'stop' })
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

function cpuSeconds(from: NodeJS.CpuUsage, to: NodeJS.CpuUsage): number {
  return (to.user - from.user + to.system - from.system) / 1e6
}

/** The same address with its TCP or UDP port replaced (to dial through a relay). */
function viaPort(addr: string, port: number): string {
  return addr.replace(/\/(tcp|udp)\/\d+\//, `/$1/${port}/`)
}

function portOf(addr: string): number {
  const match = /\/(?:tcp|udp)\/(\d+)\//.exec(addr)
  if (match === null) throw new Error(`no port in ${addr}`)
  return Number(match[1])
}

interface Transfer {
  bytesPerSec: number
  clientCpuPerGB: number
  serverCpuPerGB: number
}

/** A fresh connection, then `streams` bulk streams at once sharing `bytes`. */
async function transfer(client: Libp2p, server: Server, addr: string, bytes: number, streams: number) {
  const target = multiaddr(addr)
  await closeAll(client)
  const connection = await client.dial(target)
  const serverFrom = await server.cpu()
  const clientFrom = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: streams }, async () =>
      readBulk(await connection.newStream(BULK_PROTOCOL), bytes / streams),
    ),
  )
  const seconds = (performance.now() - started) / 1000
  const clientCpu = cpuSeconds(clientFrom, process.cpuUsage())
  const serverCpu = cpuSeconds(serverFrom, await server.cpu())
  await connection.close()
  const gb = bytes / 1e9
  return { bytesPerSec: bytes / seconds, clientCpuPerGB: clientCpu / gb, serverCpuPerGB: serverCpu / gb }
}

interface Handshake {
  dialRtts: number
  firstByteRtts: number
}

/** A fresh connection through the delay relay, then a new stream's first byte on it. */
async function handshake(client: Libp2p, relayedAddr: string): Promise<Handshake> {
  const target = multiaddr(relayedAddr)
  await closeAll(client)
  const started = performance.now()
  const connection = await client.dial(target)
  const dialled = performance.now()
  const stream = await connection.newStream(BULK_PROTOCOL)
  const opened = performance.now()
  const read = await readBulk(stream, 1024)
  await connection.close()
  return {
    dialRtts: (dialled - started) / RTT_MS,
    firstByteRtts: (opened - dialled + read.firstByteMs) / RTT_MS,
  }
}

/** libp2p reuses an open connection to a peer; each measurement wants its own. */
async function closeAll(node: Libp2p): Promise<void> {
  await Promise.all(node.getConnections().map((connection) => connection.close()))
}

export async function quicBench(ctx: BenchContext): Promise<BenchResult[]> {
  const oneStreamBytes = (ctx.quick ? 8 : 256) * MiB
  const parallelBytes = (ctx.quick ? 8 : 256) * MiB
  const rounds = ctx.quick ? 1 : 5
  const handshakesPerRound = ctx.quick ? 1 : 3
  const server = await startServer()
  const clients: Partial<Record<StackName, Libp2p>> = {}
  const relays: Relay[] = []
  try {
    for (const stack of STACKS) clients[stack] = await bareNode(stack)
    const tcpRelay = await tcpDelayRelay(portOf(server.addrs.tcp), DELAY_MS)
    relays.push(tcpRelay)
    const udpRelay = await udpDelayRelay(portOf(server.addrs.quic), DELAY_MS)
    relays.push(udpRelay)
    const relayed: Record<StackName, string> = {
      tcp: viaPort(server.addrs.tcp, tcpRelay.port),
      quic: viaPort(server.addrs.quic, udpRelay.port),
    }
    ctx.log(
      `quic: ${oneStreamBytes / MiB} MiB on 1 stream, ${parallelBytes / MiB} MiB on 4, ${rounds} round(s), ` +
        `handshakes through ${DELAY_MS} ms one-way relays`,
    )

    const one: Record<StackName, Transfer[]> = { tcp: [], quic: [] }
    const four: Record<StackName, Transfer[]> = { tcp: [], quic: [] }
    const shakes: Record<StackName, Handshake[]> = { tcp: [], quic: [] }
    const clientOf = (stack: StackName): Libp2p => clients[stack] as Libp2p
    // Warm-up: JIT, the peer store, both ends' buffers.
    for (const stack of STACKS) {
      await transfer(clientOf(stack), server, server.addrs[stack], 8 * MiB, 1)
      await handshake(clientOf(stack), relayed[stack])
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? STACKS : [...STACKS].reverse()
      for (const stack of order) {
        for (let i = 0; i < handshakesPerRound; i++)
          shakes[stack].push(await handshake(clientOf(stack), relayed[stack]))
        one[stack].push(await transfer(clientOf(stack), server, server.addrs[stack], oneStreamBytes, 1))
        four[stack].push(await transfer(clientOf(stack), server, server.addrs[stack], parallelBytes, 4))
      }
      ctx.log(
        `quic round ${round + 1}: MB/s 1 stream tcp ${mbps(one.tcp.at(-1))} quic ${mbps(one.quic.at(-1))}, ` +
          `4 streams tcp ${mbps(four.tcp.at(-1))} quic ${mbps(four.quic.at(-1))}`,
      )
    }
    const echo = { tcp: [] as number[], udp: [] as number[] }
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      echo.tcp.push((await tcpEchoMs(DELAY_MS)) / RTT_MS)
      echo.udp.push((await udpEchoMs(DELAY_MS)) / RTT_MS)
    }
    return [
      // The relays themselves, without libp2p: whole round trips, plus a little timer lateness.
      checked(
        'quic.relay.tcp_connect_echo',
        median(echo.tcp),
        'RTTs',
        '<=',
        2.2,
        'raw TCP: SYN + 1-byte echo, expect 2',
      ),
      checked('quic.relay.udp_echo', median(echo.udp), 'RTTs', '<=', 1.1, 'one datagram echoed, expect 1'),
      ...report(one, four, shakes),
    ]
  } finally {
    await Promise.allSettled(Object.values(clients).map((node) => node.stop()))
    await Promise.allSettled(relays.map((relay) => relay.close()))
    await server.stop()
  }
}

function mbps(t: Transfer | undefined): string {
  return t === undefined ? '-' : (t.bytesPerSec / 1e6).toFixed(0)
}

function report(
  one: Record<StackName, Transfer[]>,
  four: Record<StackName, Transfer[]>,
  shakes: Record<StackName, Handshake[]>,
): BenchResult[] {
  const m = <T>(xs: T[], pick: (x: T) => number): number => median(xs.map(pick))
  const rate = (xs: Transfer[]): number => m(xs, (t) => t.bytesPerSec)
  const out: BenchResult[] = []
  const label: Record<StackName, string> = { tcp: 'TCP + noise + yamux', quic: 'QUIC (libp2p-quic)' }
  for (const stack of STACKS) {
    out.push(
      info(
        `quic.${stack}.1_stream`,
        rate(one[stack]) / 1e6,
        'MB/s',
        `${label[stack]}, one bare stream, 2 processes`,
      ),
      info(
        `quic.${stack}.4_streams`,
        rate(four[stack]) / 1e6,
        'MB/s',
        `${label[stack]}, 4 streams on one connection`,
      ),
      info(
        `quic.${stack}.cpu_receiver`,
        m(one[stack], (t) => t.clientCpuPerGB),
        'CPU-s/GB',
        'receiving process, 1 stream',
      ),
      info(
        `quic.${stack}.cpu_sender`,
        m(one[stack], (t) => t.serverCpuPerGB),
        'CPU-s/GB',
        'sending process, 1 stream',
      ),
      info(
        `quic.${stack}.cpu_receiver_4_streams`,
        m(four[stack], (t) => t.clientCpuPerGB),
        'CPU-s/GB',
      ),
      info(
        `quic.${stack}.cpu_sender_4_streams`,
        m(four[stack], (t) => t.serverCpuPerGB),
        'CPU-s/GB',
      ),
      info(
        `quic.${stack}.dial_rtts`,
        m(shakes[stack], (h) => h.dialRtts),
        'RTTs',
        `fresh connection, RTT ${RTT_MS} ms`,
      ),
      info(
        `quic.${stack}.first_byte_rtts`,
        m(shakes[stack], (h) => h.firstByteRtts),
        'RTTs',
        'new stream to first byte',
      ),
    )
  }
  out.push(
    info('quic.quic_vs_tcp.1_stream', rate(one.quic) / rate(one.tcp), 'x', 'throughput, QUIC / TCP'),
    info('quic.quic_vs_tcp.4_streams', rate(four.quic) / rate(four.tcp), 'x', 'throughput, QUIC / TCP'),
  )
  return out
}
