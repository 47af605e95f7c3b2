import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { BIN, tempDir } from '../helpers/daemon.ts'

const LOAD_LOG_HOOK = resolve(import.meta.dirname, '../helpers/load-log.ts')

/** Packages (and parts of bwnode) a command that only reads the API has no use for. */
const HEAVY =
  /\/node_modules\/(libp2p|@libp2p|@chainsafe|@multiformats|fastify|@fastify|vega|vega-[a-z-]+|level|classic-level|hdr-histogram-js|zod|prom-client|cli-progress|simple-statistics)\/|\/src\/(node\/bwnode|node\/daemon|api|experiment|lab|fetch|protocols|net|store|db)[/.]/

interface Loaded {
  code: number | null
  stdout: string
  modules: string[]
}

/** Runs the CLI with a hook that records every module it loads. */
async function runRecordingLoads(args: string[]): Promise<Loaded> {
  const log = join(await tempDir('bwnode-loads-'), 'loaded.txt')
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', LOAD_LOG_HOOK, BIN, ...args], {
      env: { ...process.env, BWNODE_LOAD_LOG: log },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', fail)
    child.on('close', (code) => {
      readFile(log, 'utf8').then(
        (text) => done({ code, stdout, modules: text.split('\n').filter((line) => line !== '') }),
        (err: unknown) => fail(new Error(`no load log (${String(err)}): ${stderr}`)),
      )
    })
  })
}

describe('CLI start-up loads only what a command uses', () => {
  let daemon: RunningDaemon
  let dataDir: string
  let file: string
  beforeAll(async () => {
    dataDir = await tempDir()
    daemon = await startDaemon(parseConfig({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] }, 'startup test'))
    file = join(await tempDir('bwnode-startup-add-'), 'file.bin')
    await writeFile(file, 'a few bytes to add')
  })
  afterAll(async () => {
    await daemon?.stop()
  })

  it('--help, --version and the API-only commands load neither libp2p, fastify, vega nor the node', async () => {
    const cases = [
      ['--help'],
      ['--version'],
      ['status', '--data', dataDir],
      ['peers', '--data', dataDir],
      ['ls', '--data', dataDir],
      ['credits', '--data', dataDir],
      ['stats', 'bw', '--data', dataDir],
      // Off a terminal, add's progress is plain lines: no bar library.
      ['add', file, '--data', dataDir],
      ['token', '--data', dataDir],
      ['completion', 'bash'],
      ['status', '--api', daemon.api.url, '--json'],
    ]
    const results = await Promise.all(cases.map(runRecordingLoads))
    results.forEach((result, i) => {
      const what = cases[i]!.join(' ')
      expect(result.code, what).toBe(0)
      // The hook saw the CLI itself, so an empty list cannot pass for a light one.
      expect(
        result.modules.some((url) => url.endsWith('/src/cli/main.ts')),
        what,
      ).toBe(true)
      expect(
        result.modules.filter((url) => HEAVY.test(url)),
        what,
      ).toEqual([])
      // Before this was lazy, --help loaded ~1,500 modules.
      expect(result.modules.length, what).toBeLessThan(100)
    })
    expect(results[2]!.stdout).toContain(daemon.node.peerId.toString())
  })

  it('a command that needs the node still loads it (the hook sees packages)', async () => {
    const result = await runRecordingLoads(['init', '--data', await tempDir(), '--json'])
    expect(result.code).toBe(0)
    expect(result.modules.some((url) => url.includes('/node_modules/@libp2p/peer-id/'))).toBe(true)
    expect(result.modules.some((url) => url.includes('/node_modules/classic-level/'))).toBe(true)
  })

  it('--version prints the version in package.json', async () => {
    const pkg = JSON.parse(await readFile(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
      version: string
    }
    const result = await runRecordingLoads(['--version'])
    expect(result.stdout.trim()).toBe(pkg.version)
  })
})
