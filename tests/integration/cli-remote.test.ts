import { spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { BIN, runCli, startDaemonProcess, tempDir, waitFor } from '../helpers/daemon.ts'

/** A well-formed dataset CID that no node holds. */
const UNKNOWN_CID = 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea'
const NO_TOKEN = { BWNODE_API_TOKEN: '' }

function jsonError(stdout: string): { code: string; message: string } {
  return (JSON.parse(stdout) as { error: { code: string; message: string } }).error
}

async function unknownPeer(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('CLI against real daemons: remote use and plain errors', () => {
  let lonely: RunningDaemon
  let lonelyDir: string
  beforeAll(async () => {
    lonelyDir = await tempDir()
    lonely = await startDaemon(
      parseConfig({ dataDir: lonelyDir, listen: ['/ip4/127.0.0.1/tcp/0'] }, 'lonely'),
    )
  })
  afterAll(async () => {
    await lonely?.stop()
  })

  it('--api notaurl is a usage error that says "not a URL"', async () => {
    const [human, json] = await Promise.all([
      runCli(['status', '--api', 'notaurl']),
      runCli(['ls', '--api', 'notaurl', '--json']),
    ])
    expect(human.code).toBe(2)
    expect(human.stderr).toMatch(/--api notaurl is not a URL/)
    expect(human.stderr).not.toMatch(/is it running/)
    expect(json.code).toBe(2)
    expect(jsonError(json.stdout).code).toBe('ERR_USAGE')
  })

  it('--token and BWNODE_API_TOKEN authorise calls that change state through --api', async () => {
    const url = lonely.api.url
    const token = lonely.api.token
    const rm = ['rm', UNKNOWN_CID, '--api', url, '--json']
    const [none, flag, env, wrong] = await Promise.all([
      runCli(rm, { env: NO_TOKEN }),
      runCli([...rm, '--token', token], { env: NO_TOKEN }),
      runCli(rm, { env: { BWNODE_API_TOKEN: token } }),
      runCli([...rm, '--token', 'not-the-token'], { env: NO_TOKEN }),
    ])
    expect(jsonError(none.stdout).code).toBe('ERR_UNAUTHORIZED')
    expect(jsonError(none.stdout).message).toMatch(/--token/)
    expect(jsonError(wrong.stdout).code).toBe('ERR_UNAUTHORIZED')
    // Past the token check, the daemon answers about the dataset itself.
    for (const authorised of [flag, env]) {
      const error = jsonError(authorised.stdout)
      expect(error.code).not.toBe('ERR_UNAUTHORIZED')
      expect(error.code).toMatch(/NOT_FOUND|UNKNOWN/)
    }
  })

  it('--timeout gives up on a daemon that never answers', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((socket) => sockets.push(socket))
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
    const port = (silent.address() as { port: number }).port
    try {
      const started = Date.now()
      const result = await runCli(
        ['status', '--api', `http://127.0.0.1:${port}`, '--timeout', '0.5', '--json'],
        {
          timeoutMs: 20_000,
        },
      )
      const elapsed = Date.now() - started
      expect(result.code).toBe(1)
      expect(jsonError(result.stdout)).toMatchObject({
        code: 'ERR_TIMEOUT',
        message: expect.stringMatching(/0\.5 s/),
      })
      expect(elapsed).toBeLessThan(10_000)
      const bad = await runCli(['status', '--api', `http://127.0.0.1:${port}`, '--timeout', 'soon'])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toMatch(/--timeout must be a number/)
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  it('with 0 peers connected, fetch, offers, ping and find-peer say so at once', async () => {
    const peer = await unknownPeer()
    const started = Date.now()
    const [fetch, offers, ping, find, badCid] = await Promise.all([
      runCli(['fetch', UNKNOWN_CID, '--data', lonelyDir]),
      runCli(['offers', '--data', lonelyDir]),
      runCli(['ping', peer, '--data', lonelyDir, '--json']),
      runCli(['find-peer', peer, '--data', lonelyDir]),
      runCli(['fetch', 'bafy-not-a-cid', '--data', lonelyDir, '--json']),
    ])
    // Each used to wait for a DHT walk or dial to time out (15-30 s).
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(fetch.code).toBe(1)
    expect(fetch.stderr).toMatch(/0 peers connected/)
    expect(offers.code).toBe(0)
    expect(offers.stdout).toMatch(/0 peers connected/)
    expect(ping.code).toBe(1)
    expect(jsonError(ping.stdout)).toMatchObject({
      code: 'ERR_PEER_UNKNOWN',
      message: expect.stringMatching(/no address for it and 0 peers connected/),
    })
    expect(find.stderr).toMatch(/0 peers connected/)
    expect(jsonError(badCid.stdout).code).toBe('ERR_INVALID_CID')
  })

  it('a second daemon on the same data dir says the dir is in use', async () => {
    const result = await runCli(['start', '--data', lonelyDir, '--listen', '/ip4/127.0.0.1/tcp/0'], {
      timeoutMs: 30_000,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/data dir .* is in use by another bwnode process/)
    expect(result.stderr).toContain(lonely.api.url)
    expect(result.stderr).not.toMatch(/LevelDB|LOCK/)
    const init = await runCli(['init', '--data', lonelyDir, '--json'])
    expect(jsonError(init.stdout).code).toBe('ERR_DATA_DIR_IN_USE')
  })

  describe('with a peer connected', () => {
    let friend: RunningDaemon
    let friendDir: string
    beforeAll(async () => {
      friendDir = await tempDir()
      const bootstrap = `${lonely.node.queries.status().multiaddrs[0]}`
      friend = await startDaemon(
        parseConfig(
          { dataDir: friendDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [bootstrap] },
          'friend',
        ),
      )
      await waitFor(async () => (friend.node.queries.status().connectedPeers >= 1 ? true : undefined), {
        what: 'friend connected',
      })
    })
    afterAll(async () => {
      await friend?.stop()
    })

    it('status says "1 peer connected"', async () => {
      const result = await runCli(['status', '--data', friendDir])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^peers\s+1 peer connected$/m)
    })

    it('ping of a peer nobody knows says it cannot be reached, not libp2p text alone', async () => {
      const result = await runCli(
        ['ping', await unknownPeer(), '--data', friendDir, '--timeout', '40', '--json'],
        {
          timeoutMs: 60_000,
        },
      )
      expect(result.code).toBe(1)
      expect(jsonError(result.stdout)).toMatchObject({
        code: 'ERR_PEER_UNREACHABLE',
        message: expect.stringMatching(/^cannot ping \S+: no address is known for it/),
      })
    })

    it('fetch --timeout cancels the transfer; Ctrl-C exits 130', async () => {
      // ~5 MB served at 2 Mbit/s: a fetch that takes ~20 s.
      const seeded = await runCli(['seed', 'tiny', '--scale', '10', '--data', lonelyDir, '--json'])
      expect(seeded.code, seeded.stderr).toBe(0)
      const cid = (JSON.parse(seeded.stdout) as { cid: string }).cid
      const noneRunning = async (): Promise<true | undefined> =>
        friend.node.datasets.listTransfers().every((t) => t.state !== 'running') ? true : undefined

      const started = Date.now()
      const timed = await runCli(['fetch', cid, '--data', friendDir, '--timeout', '1.5', '--json'])
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(timed.code).toBe(1)
      expect(jsonError(timed.stdout)).toMatchObject({
        code: 'ERR_TIMEOUT',
        message: expect.stringMatching(/within 1.5 s .* cancelled/),
      })
      await waitFor(noneRunning, { what: 'the timed-out transfer cancelled', timeoutMs: 10_000 })

      const child = spawn(process.execPath, [BIN, 'fetch', cid, '--data', friendDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
      // Interrupt once the daemon runs the transfer.
      await waitFor(
        async () =>
          friend.node.datasets.listTransfers().some((t) => t.state === 'running') ? true : undefined,
        { what: 'a running transfer', intervalMs: 50 },
      )
      child.kill('SIGINT')
      expect(await exited, stderr).toBe(130)
      expect(stderr).toMatch(/cancel/)
      await waitFor(noneRunning, { what: 'the interrupted transfer cancelled', timeoutMs: 10_000 })
      const mine = (await friend.node.store.list()).find((d) => d.cid === cid)
      expect(mine?.complete).not.toBe(true)
    })
  })

  it('a daemon stopped by SIGINT exits 130, by SIGTERM 0', async () => {
    const first = await startDaemonProcess(['--listen', '/ip4/127.0.0.1/tcp/0'], await tempDir())
    expect(await first.stop('SIGINT')).toBe(130)
    const second = await startDaemonProcess(['--listen', '/ip4/127.0.0.1/tcp/0'], await tempDir())
    expect(await second.stop('SIGTERM')).toBe(0)
  })
})
