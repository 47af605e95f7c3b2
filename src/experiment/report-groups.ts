/**
 * Cell groups read against a baseline (latency under load, churn): each member cell is compared
 * with the cell that has the same workload, placement, distance, k and requests in flight at rest,
 * the `<group>-none` cell of a run of that group (alone or combined), else the network cell of the full run.
 */
import { medianOrUndefined } from '../util/stats.ts'
import { interval } from './report-format.ts'
import { ratioInterval } from './stats.ts'
import type { Cell, Results, Run } from './types.ts'

export interface GroupComparison {
  baseline: Cell
  members: Cell[]
}

/** A cell that measures the links at rest: no load on the uplinks, no peer leaving, providers known. */
export function atRest(cell: Cell): boolean {
  return cell.load === undefined && cell.churn === undefined && cell.discovery === undefined
}

export function groupComparisons(
  results: Results,
  group: string,
  isMember: (cell: Cell) => boolean,
): GroupComparison[] {
  const members = results.cells.filter((c) => isMember(c) && c.runs.length > 0)
  const key = (c: Cell) => `${c.workload}|${c.placement}|${c.distanceKm}|${c.k}|${c.inFlight}`
  const out: GroupComparison[] = []
  for (const k of [...new Set(members.map(key))].sort()) {
    // the group's own at-rest cell first: in a combined report it was measured in the same run
    const candidates = results.cells.filter((c) => atRest(c) && key(c) === k && c.runs.length > 0)
    const baseline =
      candidates.find((c) => c.tag === `${group}-none`) ?? candidates.find((c) => c.role === 'network')
    if (baseline !== undefined) out.push({ baseline, members: members.filter((c) => key(c) === k) })
  }
  return out
}

export const runValues = (cell: Cell, pick: (r: Run) => number | undefined): number[] =>
  cell.runs.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v))

/** The median over a cell's runs of a per-run figure; undefined when no run has it. */
export const cellMedian = (cell: Cell, pick: (r: Run) => number | undefined): number | undefined =>
  medianOrUndefined(runValues(cell, pick))

/** member / baseline of a per-run figure: ratio of medians with its 95% bootstrap interval. */
export function ratioText(member: Cell, baseline: Cell, pick: (r: Run) => number | undefined, seed: number) {
  const a = runValues(member, pick)
  const b = runValues(baseline, pick)
  if (a.length === 0 || b.length === 0) return 'n/a'
  return interval(ratioInterval(a, b, { seed }))
}
