import type { Command } from 'commander'
import { run } from '../common.ts'
import { type NodeOptions, nodeConfig, nodeOptions } from '../node-options.ts'

export function registerConfig(program: Command): void {
  const config = program.command('config').description('the node configuration')
  nodeOptions(
    config
      .command('show')
      .description(
        'print the config `bwnode start` would run with these flags, as JSON: defaults < --config file ' +
          '(or BWNODE_CONFIG) < BWNODE_* environment < flags, secrets elided; the output is a valid --config file',
      ),
  )
    .option('--json', 'the same JSON; errors as JSON too')
    .action(async (options: NodeOptions & { json?: boolean }) => {
      await run(
        options,
        async () => {
          const { elideSecrets } = await import('../../config/secrets.ts')
          return elideSecrets(await nodeConfig(options))
        },
        (shown) => JSON.stringify(shown, null, 2),
      )
    })
}
