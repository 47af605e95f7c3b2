import { execFileSync, spawnSync } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { ELIDED, elideSecrets } from '../../src/config/secrets.ts'
import { runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

/** Top-level commands as `bwnode --help` lists them. */
function helpCommands(help: string): string[] {
  const section = help.slice(help.indexOf('Commands:'))
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!)
}

describe('bwnode completion', () => {
  let work: string
  let bash: string
  let zsh: string
  let help: string
  beforeAll(async () => {
    work = await tempDir('bwnode-completion-')
    const [b, z, h] = await Promise.all([
      runCli(['completion', 'bash']),
      runCli(['completion', 'zsh']),
      runCli(['--help']),
    ])
    expect(b.code, b.stderr).toBe(0)
    expect(z.code, z.stderr).toBe(0)
    bash = b.stdout
    zsh = z.stdout
    help = h.stdout
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  /** What the bash function offers for a command line whose last word is being completed. */
  function complete(...line: string[]): string[] {
    const words = line.map((w) => `'${w}'`).join(' ')
    const script = `source "$1"\nCOMP_WORDS=(bwnode ${words}); COMP_CWORD=${line.length}; _bwnode_completion; printf '%s\\n' "\${COMPREPLY[@]}"`
    const out = execFileSync('bash', ['-c', script, 'complete', join(work, 'bwnode.bash')], {
      encoding: 'utf8',
    })
    return out.split('\n').filter((w) => w !== '')
  }

  it('bash: commands, subcommands, options and their choices, from the program itself', async () => {
    await writeFile(join(work, 'bwnode.bash'), bash)
    expect(spawnSync('bash', ['-n', join(work, 'bwnode.bash')]).status).toBe(0)
    // Every command of --help is offered.
    const commands = helpCommands(help)
    expect(commands).toContain('completion')
    expect(complete('')).toEqual(expect.arrayContaining(commands))
    expect(complete('st')).toEqual(['start', 'status', 'stats'])
    expect(complete('stats', '')).toEqual(['bw'])
    expect(complete('config', '')).toEqual(['show'])
    expect(complete('completion', '')).toEqual(['bash', 'zsh'])
    expect(complete('fetch', '--pro')).toEqual(['--progress'])
    expect(complete('fetch', '--progress', '')).toEqual(['auto', 'bar', 'plain', 'json', 'none'])
    expect(complete('start', '--log-level', 'd')).toEqual(['debug'])
    expect(complete('shutdown', '--')).toEqual(
      expect.arrayContaining(['--data', '--api', '--token', '--no-wait']),
    )
    // An option's value is skipped when finding the command, and is left to file completion.
    expect(complete('start', '--data', '/tmp/x', '--lo')).toEqual(['--log-level'])
    expect(complete('start', '--data', '')).toEqual([])
  })

  it('zsh: a function per command, with its options and choices', () => {
    expect(zsh.startsWith('#compdef bwnode\n')).toBe(true)
    for (const fn of [
      '_bwnode',
      '_bwnode_fetch',
      '_bwnode_stats_bw',
      '_bwnode_config_show',
      '_bwnode_find_peer',
    ]) {
      expect(zsh).toContain(`\n${fn}() {\n`)
    }
    expect(zsh).toMatch(/'--progress\[[^\]]*\]:mode:\(auto bar plain json none\)'/)
    expect(zsh).toMatch(/'\*--bootstrap\[/)
    expect(zsh).toMatch(/'1:shell:\(bash zsh\)'/)
    expect(zsh).toContain('compdef _bwnode bwnode')
  })

  it('zsh is parsed by zsh where it is installed', (context) => {
    if (!has('zsh')) context.skip('zsh is not installed here: the script is checked for its structure only')
    expect(spawnSync('zsh', ['-n', '-c', zsh]).status).toBe(0)
  })

  it('another shell is a usage error', async () => {
    const result = await runCli(['completion', 'fish'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/Allowed choices are bash, zsh/)
  })
})

describe('bwnode config show', () => {
  it('prints the config start would run with: file < environment < flags, as a valid config file', async () => {
    const work = await tempDir('bwnode-config-show-')
    const file = join(work, 'node.json')
    await writeFile(
      file,
      JSON.stringify({ dataDir: join(work, 'from-file'), offer: { uplinkMbps: 8 }, api: { port: 4020 } }),
    )
    const result = await runCli(
      ['config', 'show', '--config', file, '--uplink', '3', '--api-host', '127.0.0.2'],
      {
        env: { BWNODE_API_PORT: '4999', BWNODE_BOOTSTRAP: '', BWNODE_DATA: '' },
      },
    )
    expect(result.code, result.stderr).toBe(0)
    const shown = JSON.parse(result.stdout)
    expect(shown).toMatchObject({
      dataDir: join(work, 'from-file'),
      offer: { uplinkMbps: 3, maxConcurrent: 8 },
      api: { port: 4999, host: '127.0.0.2' },
      lending: { dailyCapBytes: 0, schedule: [] },
    })
    // What it prints is a config the schema accepts, and gives the same config again.
    expect(parseConfig(shown, 'config show')).toEqual(shown)
    // BWNODE_CONFIG names the file when --config does not.
    const fromEnv = await runCli(['config', 'show'], { env: { BWNODE_CONFIG: file, BWNODE_DATA: '' } })
    expect(JSON.parse(fromEnv.stdout).offer.uplinkMbps).toBe(8)
    const bad = await runCli(['config', 'show', '--config', join(work, 'missing.json'), '--json'])
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stdout).error.code).toBe('ERR_CONFIG')
    await rm(work, { recursive: true, force: true })
  })

  it('elides any field whose name says it is a secret (the config holds none today)', () => {
    const input = { api: { port: 1, token: 'abc' }, peers: [{ privateKey: 'k', name: 'n' }], apiKey: null }
    expect(elideSecrets(input)).toEqual({
      api: { port: 1, token: ELIDED },
      peers: [{ privateKey: ELIDED, name: 'n' }],
      apiKey: null,
    })
    expect(input.api.token).toBe('abc')
    const defaults = parseConfig({}, 'defaults')
    expect(elideSecrets(defaults)).toEqual(defaults)
  })
})

describe('bwnode start --log-level', () => {
  const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', '0']

  it('info (the default) says it shuts down; error says nothing but failures; debug adds bwnode debug logs', async () => {
    const [info, quiet, debug] = await Promise.all([
      startDaemonProcess(LISTEN, await tempDir()),
      startDaemonProcess([...LISTEN, '--log-level', 'error'], await tempDir()),
      startDaemonProcess([...LISTEN, '--log-level', 'debug'], await tempDir()),
    ])
    expect(await Promise.all([info.stop(), quiet.stop(), debug.stop()])).toEqual([0, 0, 0])
    expect(info.output()).toMatch(/bwnode: SIGTERM, shutting down/)
    expect(info.output()).not.toMatch(/bwnode:daemon API on/)
    expect(quiet.output()).not.toMatch(/shutting down/)
    expect(debug.output()).toMatch(/bwnode:daemon API on http:\/\/127\.0\.0\.1:\d+/)
    expect(debug.output()).not.toMatch(/ libp2p:/)
  })

  it('BWNODE_LOG_LEVEL sets it too; a level that is not one is a usage error (exit 2)', async () => {
    const [badFlag, badEnv] = await Promise.all([
      runCli(['start', ...LISTEN, '--data', await tempDir(), '--log-level', 'loud']),
      runCli(['start', ...LISTEN, '--data', await tempDir()], { env: { BWNODE_LOG_LEVEL: 'loud' } }),
    ])
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toMatch(/Allowed choices are error, warn, info, debug, trace/)
    expect(badEnv.code).toBe(2)
    expect(badEnv.stderr).toMatch(/BWNODE_LOG_LEVEL=loud is not a log level/)
  })
})
