import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { runCli, tempDir } from '../helpers/daemon.ts'

const SOME_CID = 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea'
const SOME_PEER = '12D3KooWGC6TvWhfapngX6wvJHMYvKpDMXPb3ZnCZ6dMoaMtimQ5'

/** Every command, with the arguments it needs. */
const COMMANDS: string[][] = [
  ['status'],
  ['peers'],
  ['find-peer', SOME_PEER],
  ['ping', SOME_PEER],
  ['add', '/tmp'],
  ['seed', 'tiny'],
  ['ls'],
  ['rm', SOME_CID],
  ['fetch', SOME_CID],
  ['offers'],
  ['credits'],
  ['credits', 'verify'],
  ['stats', 'bw'],
]

function parseError(stdout: string): { code: string; message: string } {
  const parsed = JSON.parse(stdout) as { error?: { code: unknown; message: unknown } }
  expect(parsed.error).toEqual({ code: expect.stringMatching(/^ERR_[A-Z_]+$/), message: expect.any(String) })
  return parsed.error as { code: string; message: string }
}

describe('CLI --json', () => {
  it('every command reports a missing daemon as {error: {code, message}}', async () => {
    const dataDir = await tempDir()
    const results = await Promise.all(COMMANDS.map((args) => runCli([...args, '--data', dataDir, '--json'])))
    results.forEach((result, i) => {
      expect(result.code, `${COMMANDS[i]!.join(' ')}: ${result.stderr}`).toBe(1)
      expect(parseError(result.stdout).code).toBe('ERR_DAEMON_NOT_RUNNING')
    })
  })

  it('usage errors, init and start errors come back as JSON too', async () => {
    const [unknownOption, missingArg, badInit, badStart, badBias, tinyChunk, wordChunk] = await Promise.all([
      runCli(['ls', '--json', '--bogus']),
      runCli(['ping', '--json']),
      runCli(['init', '--json', '--data', '/dev/null/x']),
      runCli(['start', '--json', '--data', await tempDir(), '--api-port', '70000']),
      runCli(['fetch', 'bafy', '--json', '--locality-bias', 'near']),
      // out of range and not a size are the same kind of mistake: both exit 2, before any daemon is asked
      runCli(['add', 'README.md', '--json', '--chunk-size', '10']),
      runCli(['add', 'README.md', '--json', '--chunk-size', 'abc']),
    ])
    expect(parseError(tinyChunk.stdout).message).toMatch(/from 64KiB to 4MiB, got 10/)
    for (const result of [unknownOption, missingArg, badStart, badBias, tinyChunk, wordChunk]) {
      expect(result.code).toBe(2)
      expect(parseError(result.stdout).code).toBe('ERR_USAGE')
    }
    expect(parseError(badBias.stdout).message).toMatch(/--locality-bias must be a number from 0 to 100/)
    expect(badInit.code).toBe(2)
    expect(parseError(badInit.stdout).code).toBe('ERR_CONFIG')
  })

  it('a second init keeps the identity and says so, with the peer id alone on stdout', async () => {
    const dataDir = await tempDir()
    const first = await runCli(['init', '--data', dataDir])
    const again = await runCli(['init', '--data', dataDir])
    expect(first.code).toBe(0)
    expect(again.code).toBe(0)
    expect(again.stdout).toBe(first.stdout)
    expect(first.stderr).toBe('')
    expect(again.stderr).toContain('already initialised; its identity is kept')
  })

  describe('against a running daemon', () => {
    let daemon: RunningDaemon
    let dataDir: string
    beforeAll(async () => {
      dataDir = await tempDir()
      daemon = await startDaemon(parseConfig({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] }, 'cli test'))
    })
    afterAll(async () => {
      await daemon?.stop()
    })

    it('prints JSON results, and API errors keep their code', async () => {
      const json = (args: string[]) => runCli([...args, '--data', dataDir, '--json'])
      const seeded = await json(['seed', 'tiny'])
      expect(seeded.code).toBe(0)
      const dataset = JSON.parse(seeded.stdout) as { cid: string; name: string }
      expect(dataset.name).toBe('tiny')
      const reads = await Promise.all([['status'], ['ls'], ['credits', 'verify']].map(json))
      for (const result of reads) {
        expect(result.code).toBe(0)
        expect(() => JSON.parse(result.stdout)).not.toThrow()
        expect(JSON.parse(result.stdout)).not.toHaveProperty('error')
      }
      expect((JSON.parse(reads[1]!.stdout) as Array<{ cid: string }>).map((d) => d.cid)).toEqual([
        dataset.cid,
      ])

      const badPeer = await json(['ping', 'not-a-peer'])
      expect(badPeer.code).toBe(1)
      expect(parseError(badPeer.stdout).code).toBe('ERR_BAD_PEER_ID')
    })
  })
})
