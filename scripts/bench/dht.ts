import type { BenchContext, BenchResult } from './types.ts'
export async function dhtBench(_ctx: BenchContext): Promise<BenchResult[]> {
  return []
}
