import type { BenchContext, BenchResult } from './types.ts'
export async function emulatedBench(_ctx: BenchContext): Promise<BenchResult[]> {
  return []
}
