import { describe, expect, it } from 'vitest'
import { BwnodeError } from '../../src/errors/index.ts'
import {
  estimateRtt,
  originCoordinate,
  parseCoordinate,
  updateCoordinate,
  VivaldiNode,
} from '../../src/latency/vivaldi.ts'
import { seededRandom } from '../../src/util/random.ts'

interface Site {
  x: number
  y: number
  accessMs: number
}

/** Nodes on a 100 x 100 ms plane, each behind an access link of 2-15 ms (counted at both ends). */
function makeSites(n: number, seed: number): Site[] {
  const random = seededRandom(seed)
  return Array.from({ length: n }, () => ({
    x: random() * 100,
    y: random() * 100,
    accessMs: 2 + random() * 13,
  }))
}

function trueRtt(a: Site, b: Site): number {
  return Math.hypot(a.x - b.x, a.y - b.y) + a.accessMs + b.accessMs
}

function simulate(sites: Site[], rounds: number, seed: number): VivaldiNode[] {
  const random = seededRandom(seed)
  const nodes = sites.map(() => new VivaldiNode({ random }))
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < sites.length; i++) {
      let j = Math.floor(random() * (sites.length - 1))
      if (j >= i) j++
      const jitter = 1 + (random() - 0.5) * 0.1 // +-5% measurement noise
      nodes[i]!.update(nodes[j]!.coordinate, trueRtt(sites[i]!, sites[j]!) * jitter)
    }
  }
  return nodes
}

function medianRelativeError(sites: Site[], nodes: VivaldiNode[]): number {
  const errors: number[] = []
  for (let i = 0; i < sites.length; i++) {
    for (let j = i + 1; j < sites.length; j++) {
      const truth = trueRtt(sites[i]!, sites[j]!)
      errors.push(Math.abs(estimateRtt(nodes[i]!.coordinate, nodes[j]!.coordinate) - truth) / truth)
    }
  }
  errors.sort((a, b) => a - b)
  return errors[Math.floor(errors.length / 2)]!
}

describe('Vivaldi coordinates', () => {
  it('converge on a synthetic 20-node geometry to a median relative error under 25%', () => {
    const figures: number[] = []
    for (const seed of [1, 2, 3]) {
      const sites = makeSites(20, seed)
      const before = medianRelativeError(sites, simulate(sites, 0, seed))
      const after = medianRelativeError(sites, simulate(sites, 200, seed))
      figures.push(after)
      expect(before).toBeGreaterThan(0.5)
      expect(after).toBeLessThan(0.25)
    }
    console.log(
      `vivaldi median relative RTT error after 200 rounds: ${figures.map((f) => `${(f * 100).toFixed(1)}%`).join(', ')}`,
    )
  })

  it('is deterministic for a given random source', () => {
    const sites = makeSites(20, 5)
    const a = simulate(sites, 50, 9).map((n) => n.toJSON())
    const b = simulate(sites, 50, 9).map((n) => n.toJSON())
    expect(a).toEqual(b)
  })

  it('lowers its error estimate as predictions become accurate', () => {
    const sites = makeSites(20, 4)
    const nodes = simulate(sites, 200, 4)
    const meanError = nodes.reduce((sum, n) => sum + n.error, 0) / nodes.length
    expect(meanError).toBeLessThan(0.3)
  })

  it('one step moves the predicted RTT toward the measurement and never mutates inputs', () => {
    const local = { x: 0, y: 0, height: 1, error: 1 }
    const remote = { x: 10, y: 0, height: 1, error: 0.1 }
    const frozen = JSON.stringify([local, remote])
    const next = updateCoordinate(local, remote, 40, { random: seededRandom(1) })
    expect(JSON.stringify([local, remote])).toBe(frozen)
    expect(Math.abs(estimateRtt(next, remote) - 40)).toBeLessThan(Math.abs(estimateRtt(local, remote) - 40))
    expect(next.x).toBeLessThan(0) // pushed away from the remote
  })

  it('separates two nodes at the same point along a random direction', () => {
    const a = updateCoordinate(originCoordinate(), originCoordinate(), 20, { random: () => 0.25 })
    expect(Math.hypot(a.x, a.y)).toBeGreaterThan(0)
    expect(a.x).toBeCloseTo(0)
  })

  it('rejects bad samples and malformed coordinates', () => {
    expect(() => updateCoordinate(originCoordinate(), originCoordinate(), 0)).toThrow(BwnodeError)
    expect(() => updateCoordinate(originCoordinate(), originCoordinate(), Number.NaN)).toThrow(BwnodeError)
    for (const bad of [
      null,
      {},
      { x: 0, y: 0, height: -1, error: 0 },
      { x: Infinity, y: 0, height: 0, error: 0 },
      'x',
    ]) {
      expect(() => parseCoordinate(bad)).toThrow(BwnodeError)
    }
    const node = new VivaldiNode()
    expect(JSON.parse(JSON.stringify(node))).toEqual(originCoordinate())
  })
})
