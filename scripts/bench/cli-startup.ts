import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { parseConfig } from '../../src/config/load.ts'
import { startDaemon } from '../../src/daemon/daemon.ts'
import { median } from '../../src/util/stats.ts'
import { type BenchContext, type BenchResult, checked, info } from './types.ts'

const BIN = resolve(import.meta.dirname, '../../bin/bwnode.js')

/** The CLI's own goal: a command that only prints or asks the API answers in this long. */
const TARGET_MS = 300

/** Wall time of one process from spawn to exit, ms; a non-zero exit is an error. */
function timeProcess(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const started = performance.now()
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', fail)
    child.on('close', (code) => {
      if (code === 0) done(performance.now() - started)
      else fail(new Error(`${args.join(' ')} exited ${code}: ${stderr}`))
    })
  })
}

/**
 * CLI start-up: the median of N runs of `--help`, `--version` and the API-only commands
 * (`status`, `peers`, `ls`, `credits`) against a running daemon, one after another, beside
 * `node -e 0` on the same machine (what no command can beat). The commands load only what
 * they use (tests/integration/cli-startup.test.ts counts the modules); this is the time that buys.
 */
export async function cliStartupBench(ctx: BenchContext): Promise<BenchResult[]> {
  const runs = ctx.quick ? 3 : 10
  const dataDir = join(ctx.workDir, 'cli-startup')
  const daemon = await startDaemon(parseConfig({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] }, 'cli bench'))
  try {
    const medianOf = async (args: string[]): Promise<number> => {
      const times: number[] = []
      for (let i = 0; i < runs; i++) times.push(await timeProcess(args))
      return median(times)
    }
    const bare = await medianOf(['-e', '0'])
    const results: BenchResult[] = [
      info('cli_startup.node_e_0', bare, 'ms', `median of ${runs}: the floor on this machine`),
    ]
    const commands: Array<[string, string[]]> = [
      ['help', ['--help']],
      ['version', ['--version']],
      ['status', ['status', '--data', dataDir]],
      ['peers', ['peers', '--data', dataDir]],
      ['ls', ['ls', '--data', dataDir]],
      ['credits', ['credits', '--data', dataDir]],
    ]
    for (const [name, args] of commands) {
      const ms = await medianOf([BIN, ...args])
      ctx.log(`cli: ${name} ${ms.toFixed(0)} ms (node -e 0: ${bare.toFixed(0)} ms)`)
      results.push(
        checked(
          `cli_startup.${name}`,
          ms,
          'ms',
          '<=',
          TARGET_MS,
          `median of ${runs}; ${(ms / bare).toFixed(2)}x node -e 0`,
        ),
      )
    }
    return results
  } finally {
    await daemon.stop()
  }
}
