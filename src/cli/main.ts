import { Command, CommanderError } from 'commander'
import { UsageError } from '../errors/index.ts'
import { packageVersion } from '../util/version.ts'
import { registerAdmin } from './commands/admin.ts'
import { registerCompletion } from './commands/completion.ts'
import { registerConfig } from './commands/config.ts'
import { registerDatasets } from './commands/datasets.ts'
import { registerExperiment } from './commands/experiment.ts'
import { registerFetch } from './commands/fetch.ts'
import { registerInit } from './commands/init.ts'
import { registerLab } from './commands/lab.ts'
import { registerMarket } from './commands/market.ts'
import { registerPeers } from './commands/peers.ts'
import { registerStart } from './commands/start.ts'
import { registerStats } from './commands/stats.ts'
import { registerStatus } from './commands/status.ts'
import { registerTransfers } from './commands/transfers.ts'
import { reportError } from './output.ts'

const program = new Command()
  .name('bwnode')
  .description(
    'A peer-to-peer bandwidth and data-sharing node, and a lab that measures it against local storage.',
  )
  .version(packageVersion())
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

registerInit(program)
registerStart(program)
registerStatus(program)
registerPeers(program)
registerDatasets(program)
registerFetch(program)
registerTransfers(program)
registerMarket(program)
registerStats(program)
registerAdmin(program)
registerConfig(program)
registerCompletion(program)
registerExperiment(program)
registerLab(program)

for (const command of program.commands) command.exitOverride()

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version end here too, with exit code 0.
    if (err.exitCode === 0) process.exit(0)
    const json = process.argv.includes('--json')
    if (json) reportError(new UsageError(err.message.replace(/^error: /, '')), true)
    process.exit(2)
  }
  process.exitCode = reportError(err, process.argv.includes('--json'))
}
