import { Argument, type Command } from 'commander'

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description(
      'print a shell completion script for bwnode, made from its commands and options: ' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, for the user to type
        'source <(bwnode completion bash), or bwnode completion zsh > "${fpath[1]}/_bwnode"',
    )
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => {
      const { bashCompletion, zshCompletion } = await import('../completion.ts')
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program))
    })
}
