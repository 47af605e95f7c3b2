import { readFile, rm, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIRST_PORT_RANGE } from '../../src/daemon/api-port.ts'
import { type DaemonProcess, runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0']
const NO_TOKEN = { BWNODE_API_TOKEN: '' }
/** A well-formed dataset CID that no node holds: `rm` of it needs the token, then says "not found". */
const UNKNOWN_CID = 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea'

const portOf = (url: string): number => Number(new URL(url).port)
const apiJson = async (dir: string) =>
  JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as { url: string; token: string }
const jsonError = (stdout: string): { code: string; message: string } =>
  (JSON.parse(stdout) as { error: { code: string; message: string } }).error

/**
 * A daemon run as a service: the same API token and port after a restart (kept in the data
 * dir), `bwnode token [--rotate]`, a remembered port that is taken, `bwnode shutdown`.
 */
describe('CLI: token and API port survive restarts; shutdown', () => {
  let dir: string
  let daemon: DaemonProcess | undefined
  beforeAll(async () => {
    dir = join(await tempDir('bwnode-cli-service-'), 'node')
  })
  afterAll(async () => {
    await daemon?.stop()
    await rm(join(dir, '..'), { recursive: true, force: true })
  })

  it('keeps the token (mode 0600) and the port it chose across a restart; bwnode token prints the token', async () => {
    daemon = await startDaemonProcess(LISTEN, dir)
    const port = portOf(daemon.apiUrl)
    expect(port).toBeGreaterThanOrEqual(FIRST_PORT_RANGE.min)
    expect(port).toBeLessThanOrEqual(FIRST_PORT_RANGE.max)
    expect((await readFile(join(dir, 'api-port'), 'utf8')).trim()).toBe(String(port))
    expect((await stat(join(dir, 'api-token'))).mode & 0o777).toBe(0o600)
    const token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
    expect(token).toMatch(/^[0-9a-f]{48}$/)
    expect((await apiJson(dir)).token).toBe(token)
    const printed = await runCli(['token', '--data', dir])
    expect(printed.code, printed.stderr).toBe(0)
    expect(printed.stdout).toBe(`${token}\n`)

    expect(await daemon.stop()).toBe(0)
    daemon = await startDaemonProcess(LISTEN, dir)
    expect(daemon.apiUrl).toBe(`http://127.0.0.1:${port}`)
    expect((await apiJson(dir)).token).toBe(token)
    // The same token works from another machine's point of view (--api URL --token) after the restart.
    const rm = await runCli(['rm', UNKNOWN_CID, '--api', daemon.apiUrl, '--token', token, '--json'], {
      env: NO_TOKEN,
    })
    expect(jsonError(rm.stdout).code).toBe('ERR_DATASET_NOT_FOUND')
  })

  it('token --rotate switches a running daemon to a new token at once', async () => {
    const old = (await apiJson(dir)).token
    const rotated = await runCli(['token', '--rotate', '--data', dir, '--json'])
    expect(rotated.code, rotated.stderr).toBe(0)
    const result = JSON.parse(rotated.stdout) as { token: string; rotated: boolean; daemon: string }
    expect(result).toMatchObject({ rotated: true, daemon: 'running' })
    expect(result.token).not.toBe(old)
    expect((await readFile(join(dir, 'api-token'), 'utf8')).trim()).toBe(result.token)
    expect((await apiJson(dir)).token).toBe(result.token)
    const url = daemon!.apiUrl
    const rm = ['rm', UNKNOWN_CID, '--api', url, '--json']
    const [withOld, withNew] = await Promise.all([
      runCli([...rm, '--token', old], { env: NO_TOKEN }),
      runCli([...rm, '--token', result.token], { env: NO_TOKEN }),
    ])
    expect(jsonError(withOld.stdout)).toMatchObject({
      code: 'ERR_UNAUTHORIZED',
      message: expect.stringMatching(/bwnode token/),
    })
    expect(jsonError(withNew.stdout).code).toBe('ERR_DATASET_NOT_FOUND')
  })

  it('shutdown needs the token, then stops the daemon gracefully (exit 0) and waits for it', async () => {
    const refused = await runCli(['shutdown', '--api', daemon!.apiUrl, '--json'], { env: NO_TOKEN })
    expect(jsonError(refused.stdout).code).toBe('ERR_UNAUTHORIZED')
    // Refused means not stopping: the daemon still answers.
    await new Promise((r) => setTimeout(r, 300))
    expect((await runCli(['status', '--data', dir])).code).toBe(0)
    const result = await runCli(['shutdown', '--data', dir])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.trim()).toBe(`stopped ${daemon!.peerId}`)
    await expect(stat(join(dir, 'api.json'))).rejects.toThrow()
    expect(await daemon!.stop()).toBe(0)
    expect(daemon!.output()).toMatch(/shutdown asked over the API, shutting down/)
    daemon = undefined
  })

  it('token --rotate without a daemon changes the file for the next start', async () => {
    const before = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
    const rotated = await runCli(['token', '--rotate', '--data', dir])
    expect(rotated.code, rotated.stderr).toBe(0)
    expect(rotated.stderr).toMatch(/uses it from its next start/)
    const token = rotated.stdout.trim()
    expect(token).not.toBe(before)
    daemon = await startDaemonProcess(LISTEN, dir)
    expect((await apiJson(dir)).token).toBe(token)
    expect(await daemon.stop()).toBe(0)
    daemon = undefined
  })

  it('a remembered port that is taken gives way to a free one for that run, and is kept', async () => {
    const port = Number((await readFile(join(dir, 'api-port'), 'utf8')).trim())
    const squatter: Server = createServer()
    await new Promise<void>((done) => squatter.listen(port, '127.0.0.1', done))
    try {
      daemon = await startDaemonProcess(LISTEN, dir)
      expect(portOf(daemon.apiUrl)).not.toBe(port)
      expect(daemon.output()).toMatch(
        new RegExp(
          `API port ${port} \\(remembered in .*api-port\\) is taken; this run listens on ${portOf(daemon.apiUrl)}`,
        ),
      )
      expect((await readFile(join(dir, 'api-port'), 'utf8')).trim()).toBe(String(port))
      expect(await daemon.stop()).toBe(0)
      daemon = undefined
    } finally {
      squatter.close()
    }
    // --api-port 0 is any free port for one run, not remembered.
    daemon = await startDaemonProcess([...LISTEN, '--api-port', '0'], dir)
    expect((await readFile(join(dir, 'api-port'), 'utf8')).trim()).toBe(String(port))
  })

  it('token of a data dir that does not exist says so', async () => {
    const result = await runCli(['token', '--data', join(dir, 'nope'), '--json'])
    expect(result.code).toBe(1)
    expect(jsonError(result.stdout)).toMatchObject({
      code: 'ERR_NOT_FOUND',
      message: expect.stringMatching(/bwnode init/),
    })
  })
})
