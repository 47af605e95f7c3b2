import { resolve } from 'node:path'
import type { Command } from 'commander'
import { reportError } from '../output.ts'

interface LabCommandOptions {
  keepRunning?: boolean
  nodesDir: string
  out: string
  experiment: boolean
  json?: boolean
}

const REPO_NODE_CONFIGS = resolve(import.meta.dirname, '../../../node-configs')

export function registerLab(program: Command): void {
  program
    .command('lab')
    .description(
      'run a local network of real nodes over emulated links (node-configs/lab-*.json), fetch a dataset through the DHT, then the quick claim experiment',
    )
    .option('--keep-running', 'leave the daemons up (APIs and dashboards) until Ctrl-C')
    .option('--nodes-dir <dir>', 'directory with the lab-*.json node configs', REPO_NODE_CONFIGS)
    .option('--out <dir>', 'where the quick experiment writes its report', 'lab-output/quick')
    .option('--no-experiment', 'skip the quick experiment')
    .option('--json', 'print a JSON summary on stdout (the log goes to stderr)')
    .action(async (options: LabCommandOptions) => {
      const controller = new AbortController()
      let signals = 0
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1
        // A second Ctrl-C means "now": the exit handler still SIGKILLs the daemons.
        if (signals > 1) process.exit(130)
        process.stderr.write(`bwnode lab: ${signal}, stopping the lab\n`)
        controller.abort()
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      try {
        const { runLab } = await import('../../lab/lab.ts')
        const summary = await runLab({
          nodesDir: options.nodesDir,
          out: options.out,
          experiment: options.experiment,
          keepRunning: options.keepRunning === true,
          output: options.json === true ? process.stderr : process.stdout,
          signal: controller.signal,
        })
        if (options.json === true) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
      } catch (err) {
        const stoppedByUser = controller.signal.aborted
        if (stoppedByUser && !options.keepRunning) process.exitCode = 130
        else if (!stoppedByUser) process.exitCode = reportError(err, options.json === true)
      } finally {
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
      }
    })
}
