import { ERR } from '../errors/codes.ts'
import { errorCode } from '../errors/index.ts'

/**
 * The lab's link to the claim experiment (src/experiment/runner.ts). Loaded
 * lazily: the experiment pulls in charting and is only needed at the end, and
 * a tree without the runner still runs the lab (it says it skipped the step).
 */

export interface QuickExperimentOptions {
  mode: 'quick'
  out: string
  onProgress?: (line: string) => void
  /** Stops the run between measurements and removes its work dir. */
  signal?: AbortSignal
}

/** `runExperiment` of src/experiment/runner.ts, as far as the lab uses it. */
export type RunExperiment = (options: QuickExperimentOptions) => Promise<unknown>

/** The per-workload line the lab prints. */
export interface VerdictLine {
  workload: string
  status: string
  text: string
}

export interface ExperimentSummary {
  reportPath: string | null
  resultsPath: string | null
  verdicts: VerdictLine[]
}

/**
 * The runner's `runExperiment`, or undefined when this tree has no runner
 * (a trimmed checkout): the lab then says it skipped the experiment.
 */
export async function loadRunExperiment(): Promise<RunExperiment | undefined> {
  try {
    const { runExperiment } = await import('../experiment/runner.ts')
    return runExperiment
  } catch (err) {
    if (errorCode(err) === ERR.MODULE_NOT_FOUND && String(err).includes('runner')) return undefined
    throw err
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null
}

function formatRatio(ratio: unknown): string {
  if (!isRecord(ratio)) return ''
  const point = ratio.point ?? ratio.ratio ?? ratio.median ?? ratio.value
  return typeof point === 'number' ? ` x${point.toFixed(2)}` : ''
}

/**
 * Reads what the runner returned: the report's paths and one line per
 * workload verdict. Accepts the report writer's output shape
 * ({reportPath, resultsPath, verdicts}) directly or under `report`.
 */
export function summariseExperiment(outcome: unknown, outDir: string): ExperimentSummary {
  const root = isRecord(outcome) ? outcome : {}
  const report = isRecord(root.report) ? root.report : root
  const verdictsValue = Array.isArray(report.verdicts)
    ? report.verdicts
    : Array.isArray(root.verdicts)
      ? root.verdicts
      : []
  const verdicts: VerdictLine[] = []
  for (const verdict of verdictsValue) {
    if (!isRecord(verdict)) continue
    const workload = text(verdict.workload) ?? '?'
    const status = text(verdict.status) ?? '?'
    const winner =
      isRecord(verdict.winner) && isRecord(verdict.winner.cell) ? text(verdict.winner.cell.placement) : null
    const reason = text(verdict.reason)
    const parts = [`${workload}: claim ${status}`]
    if (winner !== null) parts.push(`winner ${winner}${formatRatio(verdict.ratio)}`)
    if (text(verdict.confidence) !== null) parts.push(`confidence ${verdict.confidence as string}`)
    verdicts.push({ workload, status, text: `${parts.join(', ')}${reason === null ? '' : ` (${reason})`}` })
  }
  return {
    reportPath:
      text(report.reportPath) ?? text(root.reportPath) ?? (outDir.length > 0 ? `${outDir}/report.md` : null),
    resultsPath: text(report.resultsPath) ?? text(root.resultsPath),
    verdicts,
  }
}

/** A progress callback's argument as one printable line. */
export function progressText(progress: unknown): string {
  if (typeof progress === 'string') return progress
  if (isRecord(progress)) {
    const message = text(progress.message) ?? text(progress.text) ?? text(progress.step)
    if (message !== null) return message
  }
  return JSON.stringify(progress)
}
