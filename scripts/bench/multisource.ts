import type { BenchContext, BenchResult } from './types.ts'
export async function multiSourceBench(_ctx: BenchContext): Promise<BenchResult[]> {
  return []
}
