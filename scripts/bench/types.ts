/** One figure of the benchmark: a value, what it should be, and whether it is. */
export interface BenchResult {
  name: string
  value: number
  unit: string
  /** e.g. '>= 0.9'; null when the figure is informative only. */
  target: string | null
  /** null when there is no target. */
  pass: boolean | null
  /** What the figure compares, in a few words. */
  note?: string
}

export interface BenchContext {
  /** Tiny configuration (the smoke test): every section runs, figures are rough. */
  quick: boolean
  /** Progress lines; they go to stderr so --json output stays clean. */
  log(line: string): void
  /** Scratch directory, removed at the end of the run. */
  workDir: string
}

export type Comparison = '>=' | '<='

/** A figure with a target. */
export function checked(
  name: string,
  value: number,
  unit: string,
  comparison: Comparison,
  threshold: number,
  note?: string,
): BenchResult {
  const ok = Number.isFinite(value) && (comparison === '>=' ? value >= threshold : value <= threshold)
  return {
    name,
    value: round(value),
    unit,
    target: `${comparison} ${threshold}`,
    pass: ok,
    ...(note ? { note } : {}),
  }
}

/** A figure without a target (reported for context). */
export function info(name: string, value: number, unit: string, note?: string): BenchResult {
  return { name, value: round(value), unit, target: null, pass: null, ...(note ? { note } : {}) }
}

function round(value: number): number {
  if (!Number.isFinite(value)) return value
  const magnitude = Math.abs(value)
  const digits = magnitude >= 100 ? 1 : magnitude >= 1 ? 3 : 4
  return Number(value.toFixed(digits))
}

/** Nearest-rank percentile (p in 0..100) of raw samples. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}
