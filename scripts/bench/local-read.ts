import type { BenchContext, BenchResult } from './types.ts'
export async function localReadBench(_ctx: BenchContext): Promise<BenchResult[]> {
  return []
}
