import { VivaldiNode } from '../../src/latency/vivaldi.ts'
import { Xoshiro128 } from '../../src/store/prng.ts'
import { median } from '../../src/util/stats.ts'
import { type BenchContext, type BenchResult, checked, info, percentile } from './types.ts'

/** One way through fibre, ms per km (CLAIM.md: ~4.9 us/km). */
const FIBRE_MS_PER_KM = 0.0049
const ROUTE_INFLATION = 1.5
const DISTANCES_KM = [1, 10, 100, 1000]

interface LabNode {
  x: number
  y: number
  /** One-way access (last-mile) latency, ms. */
  accessMs: number
}

/** The RTT the lab's emulator would produce between two nodes, ms. */
function trueRtt(a: LabNode, b: LabNode): number {
  const km = Math.hypot(a.x - b.x, a.y - b.y)
  return 2 * (a.accessMs + b.accessMs + km * ROUTE_INFLATION * FIBRE_MS_PER_KM)
}

/**
 * Section 6: Vivaldi in the lab geometry. A client at the origin and peers at
 * 1/10/100/1000 km (random bearings), each with a residential access latency
 * of 4-8 ms one way (8-16 ms per round trip, CLAIM.md). Every node pings
 * random others (samples with +-5% jitter) and updates its coordinate; the
 * figure is the median over all pairs of |estimate - true| / true.
 */
export async function vivaldiBench(ctx: BenchContext): Promise<BenchResult[]> {
  const random = new Xoshiro128(42)
  const uniform = (): number => random.next() / 2 ** 32
  const perDistance = ctx.quick ? 3 : 6
  const lab: LabNode[] = [{ x: 0, y: 0, accessMs: 4 + 4 * uniform() }]
  for (const km of DISTANCES_KM) {
    for (let i = 0; i < perDistance; i++) {
      const angle = 2 * Math.PI * uniform()
      lab.push({ x: km * Math.cos(angle), y: km * Math.sin(angle), accessMs: 4 + 4 * uniform() })
    }
  }
  const nodes = lab.map(() => new VivaldiNode())
  const rounds = ctx.quick ? 100 : 400
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < nodes.length; i++) {
      let j = Math.floor(uniform() * (nodes.length - 1))
      if (j >= i) j++
      const sample = trueRtt(lab[i] as LabNode, lab[j] as LabNode) * (0.95 + 0.1 * uniform())
      ;(nodes[i] as VivaldiNode).update((nodes[j] as VivaldiNode).coordinate, sample)
    }
  }
  const errors: number[] = []
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const truth = trueRtt(lab[i] as LabNode, lab[j] as LabNode)
      const estimate = (nodes[i] as VivaldiNode).estimateRtt((nodes[j] as VivaldiNode).coordinate)
      errors.push(Math.abs(estimate - truth) / truth)
    }
  }
  ctx.log(`vivaldi: ${nodes.length} nodes, ${rounds} rounds, median error ${median(errors).toFixed(3)}`)
  return [
    checked('vivaldi.median_relative_error', median(errors), 'ratio', '<=', 0.15, 'lab geometry, all pairs'),
    info('vivaldi.p90_relative_error', percentile(errors, 90), 'ratio'),
  ]
}
