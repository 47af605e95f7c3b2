import type { BenchContext, BenchResult } from './types.ts'
export async function vivaldiBench(_ctx: BenchContext): Promise<BenchResult[]> {
  return []
}
