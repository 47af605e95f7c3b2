/**
 * Calibration table for the link emulator (src/net): configured vs measured round trip and
 * rate over real libp2p nodes on 127.0.0.1, and the cost of the emulator at zero.
 *
 *   node_modules/.bin/node scripts/calibrate-net.ts
 *
 * RTTs are medians of small echoes over an open libp2p stream, next to a baseline of the same
 * stack with a zero link (the loopback stack's own round trip). Rates are goodput of one yamux
 * stream with a 4 MiB window. Ratios are measured side by side in this one run.
 */

import type { Stream } from '@libp2p/interface'
import { median } from '../src/util/stats.ts'
import {
  createTestNode,
  ECHO_PROTOCOL,
  linkForRtt,
  measureEchoRtts,
  measureThroughputMbps,
  type TestNode,
} from './net-helpers.ts'

async function withPair<T>(
  options: Parameters<typeof createTestNode>[0],
  run: (a: TestNode, b: TestNode) => Promise<T>,
): Promise<T> {
  const a = await createTestNode(options)
  const b = await createTestNode(options)
  try {
    return await run(a, b)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

async function openEcho(a: TestNode, b: TestNode): Promise<Stream> {
  const addr = b.getMultiaddrs()[0]
  if (addr == null) throw new Error('no address')
  const stream = await a.dialProtocol(addr, ECHO_PROTOCOL)
  await measureEchoRtts(stream, 5)
  return stream
}

// the baseline pair stays up and is measured in between, batch by batch, so both see the same load
const base = [
  await createTestNode({ link: linkForRtt(0) }),
  await createTestNode({ link: linkForRtt(0) }),
] as const
const baseStream = await openEcho(base[0], base[1])
console.log('RTT configured (ms) | measured median (ms) | baseline (ms) | minus baseline | error')
for (const rtt of [0.5, 2, 5, 20, 50, 100]) {
  const [measured, baseline] = await withPair({ link: linkForRtt(rtt) }, async (a, b) => {
    const stream = await openEcho(a, b)
    const shaped: number[] = []
    const plain: number[] = []
    for (let batch = 0; batch < 5; batch++) {
      shaped.push(...(await measureEchoRtts(stream, rtt >= 50 ? 3 : 7)))
      plain.push(...(await measureEchoRtts(baseStream, 7)))
    }
    return [median(shaped), median(plain)]
  })
  const added = measured - baseline
  console.log(
    `${String(rtt).padStart(19)} | ${measured.toFixed(3).padStart(20)} | ${baseline.toFixed(3).padStart(13)} | ` +
      `${added.toFixed(3).padStart(14)} | ${(((added - rtt) / rtt) * 100).toFixed(1)}%`,
  )
}
await Promise.all(base.map((n) => n.stop()))

console.log('\nrate configured (Mbit/s) | measured (Mbit/s) | ratio')
for (const [mbps, bytes] of [
  [10, 2_500_000],
  [20, 5_000_000],
  [50, 10_000_000],
  [100, 16_000_000],
  [200, 32_000_000],
] as const) {
  const measured = await withPair(
    { link: linkForRtt(2, mbps), streamWindowBytes: 4 * 1024 * 1024 },
    async (a, b) => {
      await measureThroughputMbps(a, b, 512 * 1024)
      return measureThroughputMbps(a, b, bytes)
    },
  )
  console.log(
    `${String(mbps).padStart(24)} | ${measured.toFixed(2).padStart(17)} | ${(measured / mbps).toFixed(3)}`,
  )
}

const zero = [
  await createTestNode({ link: linkForRtt(0) }),
  await createTestNode({ link: linkForRtt(0) }),
] as const
const none = [await createTestNode(), await createTestNode()] as const
const ratios: number[] = []
for (let round = 0; round < 9; round++) {
  const [z, n] = await Promise.all([
    measureThroughputMbps(zero[0], zero[1], 8 * 1024 * 1024),
    measureThroughputMbps(none[0], none[1], 8 * 1024 * 1024),
  ])
  ratios.push(z / n)
}
await Promise.all([...zero, ...none].map((n) => n.stop()))
console.log(
  `\nzero link vs no connectionProtector, throughput ratio (median of 9, run together): ${median(ratios).toFixed(3)}`,
)
