/**
 * `experiment --combine DIR...`: reads each run's results.json, combines them (combine.ts) and
 * writes the report into the output directory; one run alone is written again as it is. A missing
 * or invalid file is named in the error.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError } from '../errors/index.ts'
import { combineResults } from './combine.ts'
import { RESULTS_FILE, type ReportOutput, writeReport } from './report.ts'
import { parseResults, type Results } from './types.ts'

async function readResults(dir: string): Promise<Results> {
  const path = join(dir, RESULTS_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return parseResults(JSON.parse(text))
  } catch (err) {
    throw new UsageError(
      `${path} is not experiment results: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    )
  }
}

export async function combineResultDirs(dirs: readonly string[], outDir: string): Promise<ReportOutput> {
  const [core, ...groups] = await Promise.all(dirs.map(readResults))
  if (core === undefined) throw new UsageError('--combine needs at least one run')
  // one run alone: its report again, with this version's sections
  if (groups.length === 0) return writeReport(core, outDir)
  let combined: Results
  try {
    combined = combineResults(core, groups)
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  return writeReport(combined, outDir)
}
