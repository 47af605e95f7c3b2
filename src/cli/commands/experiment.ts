import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../errors/index.ts'
import type { WorkloadVerdict } from '../../experiment/verdict.ts'
import { table } from '../../util/format.ts'
import { parseInteger } from '../common.ts'
import { emit, reportError } from '../output.ts'

interface ExperimentCliOptions {
  quick?: boolean
  full?: boolean
  out: string
  seed?: number
  json?: boolean
  live?: boolean
  data?: string
  api?: string
  cid?: string
  dilation?: number | 'auto'
  only?: ExperimentGroup[]
  without?: ExperimentGroup[]
  combine?: string[]
}

/** CELL_GROUPS of src/experiment/scenarios.ts, named here so that --help loads no experiment code. */
export const EXPERIMENT_GROUPS = ['load', 'churn', 'scheduling'] as const
type ExperimentGroup = (typeof EXPERIMENT_GROUPS)[number]

/** `--only load,churn` / `--without churn`: one or more groups, comma-separated. */
function groupsParser(flag: string): (value: string) => ExperimentGroup[] {
  return (value) => {
    const groups = value.split(',').map((g) => g.trim())
    for (const g of groups) {
      if (!(EXPERIMENT_GROUPS as readonly string[]).includes(g)) {
        throw new UsageError(`${flag} takes ${EXPERIMENT_GROUPS.join(', ')} (comma-separated), got '${g}'`)
      }
    }
    return [...new Set(groups)] as ExperimentGroup[]
  }
}

/** `--dilation`: 'auto' or a factor >= 1 (up to MAX_DILATION). */
function parseDilation(value: string): number | 'auto' {
  if (value === 'auto') return 'auto'
  const k = Number(value)
  if (!Number.isFinite(k) || k < 1 || k > 32) {
    throw new UsageError(`--dilation must be 'auto' or a number from 1 to 32, got '${value}'`)
  }
  return k
}

export const DEFAULT_EXPERIMENT_OUT = './experiment-output'

function verdictSummary(v: WorkloadVerdict) {
  return {
    workload: v.workload,
    status: v.status,
    rule: v.rule,
    outcome: v.outcome.status,
    mechanism: v.mechanism.status,
    distanceShare: v.mechanism.share ?? null,
    peersVsOrigin: v.peersVsOrigin?.status ?? null,
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
    .option(
      '--quick',
      'only the cells that decide the statuses, 3 repetitions each, for CI and npm start (minutes; the default)',
    )
    .option('--full', 'the whole matrix, 5 repetitions per deciding cell (about 90 minutes on 2 cores)')
    .option('--out <dir>', 'output directory', DEFAULT_EXPERIMENT_OUT)
    .option(
      '--seed <n>',
      'seed for sample order and bootstrap intervals',
      parseInteger('--seed', 0, 2 ** 31 - 1),
    )
    .option(
      '--dilation <K>',
      "time dilation: 'auto' (default: per cell, until the links, not this machine, limit it) or a factor K " +
        '(every emulated rate / K, every delay x K; results in undilated time)',
      parseDilation,
    )
    .option(
      '--only <groups>',
      "run groups of cells and their baselines alone (decides no status): 'load' = latency under load, " +
        "'churn' = a peer leaving mid-run, 'scheduling' = providers found on the DHT inside the run; e.g. --only load,churn",
      groupsParser('--only'),
    )
    .option(
      '--without <groups>',
      'leave groups of cells out of a --full run (the core matrix still decides the statuses); ' +
        'e.g. --without load,churn, then each group alone with --only',
      groupsParser('--without'),
    )
    .option(
      '--combine <dir>',
      'measure nothing: write one report into --out from the results.json of a full run (given first), of ' +
        'runs of its groups alone (--only) and of live runs on the netns lab (a kernel cross-check); repeat the flag ' +
        "per run; one run alone gets its report written again with this version's sections",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--live', 'measure the real peers of a running daemon (with --data DIR or --api URL)')
    .option('--data <dir>', 'data dir of the running daemon (--live)')
    .option('--api <url>', 'API URL of the running daemon (--live)')
    .option('--cid <cid>', "dataset to measure with (--live; default: the daemon's largest)")
    .option('--json', 'print the verdicts as JSON on stdout')
    .action(async (options: ExperimentCliOptions) => {
      const json = options.json === true
      // Ctrl-C stops the run between measurements and removes its work dir (the datasets are
      // gigabytes in the temp dir); a second Ctrl-C exits at once.
      const controller = new AbortController()
      let signals = 0
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1
        if (signals > 1) process.exit(130)
        process.stderr.write(`bwnode experiment: ${signal}, stopping (no report is written)\n`)
        controller.abort()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      try {
        const modes = [options.quick, options.full, options.live].filter((flag) => flag === true).length
        if (modes > 1) throw new UsageError('give one of --quick, --full or --live')
        if (options.live === true && options.only !== undefined)
          throw new UsageError('--only does not go with --live')
        if (options.without !== undefined && options.full !== true)
          throw new UsageError('--without goes with --full (a quick run holds no groups)')
        if (options.without !== undefined && options.only !== undefined)
          throw new UsageError('give one of --only and --without')
        if (options.live !== true && (options.data !== undefined || options.api !== undefined)) {
          throw new UsageError('--data and --api go with --live')
        }
        const out = resolve(options.out)
        if (options.combine !== undefined) {
          const others = [
            options.quick,
            options.full,
            options.live,
            options.only,
            options.without,
            options.seed,
          ]
          if (others.some((o) => o !== undefined))
            throw new UsageError('--combine measures nothing: give it only with --out')
          const { combineResultDirs } = await import('../../experiment/combine-files.ts')
          const written = await combineResultDirs(
            options.combine.map((d) => resolve(d)),
            out,
          )
          emit(options, { reportPath: written.reportPath }, (data) => `report: ${data.reportPath}`)
          return
        }
        const onProgress = (line: string): void => {
          process.stderr.write(`${line}\n`)
        }
        const seed = options.seed === undefined ? {} : { seed: options.seed }
        const outcome =
          options.live === true
            ? await (await import('../../experiment/live.ts')).runLiveExperiment({
                out,
                onProgress,
                ...seed,
                ...(options.data === undefined ? {} : { data: options.data }),
                ...(options.api === undefined ? {} : { api: options.api }),
                ...(options.cid === undefined ? {} : { cid: options.cid }),
              })
            : await (await import('../../experiment/runner.ts')).runExperiment({
                mode: options.full === true ? 'full' : 'quick',
                out,
                onProgress,
                ...seed,
                ...(options.dilation === undefined ? {} : { dilation: options.dilation }),
                ...(options.only === undefined ? {} : { only: options.only }),
                ...(options.without === undefined ? {} : { without: options.without }),
                signal: controller.signal,
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
                [
                  'workload',
                  'claim',
                  'outcome',
                  'mechanism',
                  'peers vs origin',
                  'winner',
                  'advantage',
                  'confidence',
                ],
                ...data.verdicts.map((v) => [
                  v.workload,
                  v.status,
                  v.outcome,
                  v.mechanism,
                  v.peersVsOrigin ?? '-',
                  v.winner ?? '-',
                  v.ratio === null ? '-' : `${v.ratio.toFixed(2)}x ${v.metric}`,
                  v.confidence ?? '-',
                ]),
              ]),
            ].join('\n'),
        )
      } catch (err) {
        process.exitCode = controller.signal.aborted ? 130 : reportError(err, json)
      } finally {
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
      }
    })
}
