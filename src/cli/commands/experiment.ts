import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../errors/index.ts'
import { runExperiment } from '../../experiment/runner.ts'
import type { WorkloadVerdict } from '../../experiment/verdict.ts'
import { parseInteger } from '../common.ts'
import { emit, reportError, table } from '../output.ts'

interface ExperimentCliOptions {
  quick?: boolean
  full?: boolean
  out: string
  seed?: number
  json?: boolean
}

export const DEFAULT_EXPERIMENT_OUT = './experiment-output'

function verdictSummary(v: WorkloadVerdict) {
  return {
    workload: v.workload,
    status: v.status,
    rule: v.rule,
    winner: v.winner?.cell.placement ?? null,
    winnerCell: v.winner?.cell.id ?? null,
    metric: v.metric.name,
    ratio: v.ratio?.ratio ?? null,
    ratioInterval: v.ratio === undefined ? null : [v.ratio.low, v.ratio.high],
    confidence: v.confidence ?? null,
    reason: v.reason,
  }
}

export function registerExperiment(program: Command): void {
  program
    .command('experiment')
    .description(
      'run the claim experiment: local storage vs peers at emulated distances vs a distant origin, ' +
        'over real in-process nodes; writes results.json, report.md and charts',
    )
    .option('--quick', 'the small subset for CI (about a minute; the default)')
    .option('--full', 'the whole matrix with 5 repetitions per cell (tens of minutes)')
    .option('--out <dir>', 'output directory', DEFAULT_EXPERIMENT_OUT)
    .option(
      '--seed <n>',
      'seed for sample order and bootstrap intervals',
      parseInteger('--seed', 0, 2 ** 31 - 1),
    )
    .option('--json', 'print the verdicts as JSON on stdout')
    .action(async (options: ExperimentCliOptions) => {
      const json = options.json === true
      try {
        if (options.quick === true && options.full === true)
          throw new UsageError('give --quick or --full, not both')
        const out = resolve(options.out)
        const outcome = await runExperiment({
          mode: options.full === true ? 'full' : 'quick',
          out,
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          onProgress: (line) => process.stderr.write(`${line}\n`),
        })
        const verdicts = outcome.verdicts.map(verdictSummary)
        emit(
          options,
          { reportPath: outcome.reportPath, calibrationPassed: outcome.results.calibration.passed, verdicts },
          (data) =>
            [
              `report: ${data.reportPath}`,
              data.calibrationPassed ? 'calibration: passed' : 'calibration: FAILED (no conclusions drawn)',
              '',
              table([
                ['workload', 'claim', 'winner', 'advantage', 'confidence'],
                ...data.verdicts.map((v) => [
                  v.workload,
                  v.status,
                  v.winner ?? '-',
                  v.ratio === null ? '-' : `${v.ratio.toFixed(2)}x ${v.metric}`,
                  v.confidence ?? '-',
                ]),
              ]),
            ].join('\n'),
        )
      } catch (err) {
        process.exitCode = reportError(err, json)
      }
    })
}
