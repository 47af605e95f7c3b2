import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withApiHost } from '../../src/cli/commands/start.ts'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/node/daemon.ts'
import { runCli, startDaemonProcess, tempDir } from '../helpers/daemon.ts'

/** This machine's own non-loopback IPv4 address, if it has one. */
function localNonLoopbackIpv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const addr of addrs ?? []) if (addr.family === 'IPv4' && !addr.internal) return addr.address
  }
  return undefined
}

/** Resolves 'connected' or the socket error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 })
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve('timeout')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
  })
}

describe('HTTP API access', () => {
  let daemon: RunningDaemon
  let url: string
  beforeAll(async () => {
    daemon = await startDaemon(
      parseConfig({ dataDir: await tempDir(), listen: ['/ip4/127.0.0.1/tcp/0'] }, 'api test'),
    )
    url = daemon.api.url
  })
  afterAll(async () => {
    await daemon?.stop()
  })

  const changes: Array<[string, string, unknown]> = [
    ['POST', '/api/datasets', { path: '/tmp' }],
    ['POST', '/api/seeds', { name: 'tiny' }],
    ['POST', '/api/fetch', { cid: 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea' }],
    ['DELETE', '/api/datasets/bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea', undefined],
    ['DELETE', '/api/transfers/1', undefined],
  ]

  it('rejects every state-changing call without the right token, and changes nothing', async () => {
    for (const [method, path, body] of changes) {
      for (const authorization of [
        undefined,
        'Bearer wrong',
        daemon.api.token,
        `Basic ${daemon.api.token}`,
      ]) {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: {
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(authorization === undefined ? {} : { authorization }),
            origin: 'http://evil.example',
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        expect(response.status, `${method} ${path} with ${authorization}`).toBe(401)
        expect(await response.json()).toEqual({
          error: { code: 'ERR_UNAUTHORIZED', message: expect.any(String) },
        })
        // No CORS: a page on another origin cannot read or preflight its way in.
        expect(response.headers.get('access-control-allow-origin')).toBeNull()
      }
    }
    const datasets = (await (await fetch(`${url}/api/datasets`)).json()) as unknown[]
    expect(datasets).toEqual([])
    expect(((await (await fetch(`${url}/api/transfers`)).json()) as unknown[]).length).toBe(0)
  })

  it('accepts the same call with the token', async () => {
    const response = await fetch(`${url}/api/seeds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${daemon.api.token}` },
      body: JSON.stringify({ name: 'tiny' }),
    })
    expect(response.status).toBe(200)
    expect(((await (await fetch(`${url}/api/datasets`)).json()) as unknown[]).length).toBe(1)
  })

  it('refuses a fetch with out-of-range options before starting it', async () => {
    for (const body of [{ localityBias: -1 }, { localityBias: 'near' }, { maxProviders: 0 }]) {
      const response = await fetch(`${url}/api/fetch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${daemon.api.token}` },
        body: JSON.stringify({
          cid: 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea',
          ...body,
        }),
      })
      expect(response.status, JSON.stringify(body)).toBe(400)
      const { error } = (await response.json()) as { error: { code: string; message: string } }
      expect(error.code).toBe('ERR_BAD_REQUEST')
      expect(error.message).toMatch(/localityBias|maxProviders/)
    }
    expect(await (await fetch(`${url}/api/transfers`)).json()).toEqual([])
  })

  it('answers a CORS preflight with no allow headers', async () => {
    const response = await fetch(`${url}/api/fetch`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    })
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    expect(response.headers.get('access-control-allow-methods')).toBeNull()
    expect(response.headers.get('access-control-allow-headers')).toBeNull()
  })

  it('serves the dashboard and its data without a token, all from the node', async () => {
    const page = await fetch(`${url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'")
    const html = await page.text()
    expect(html).not.toMatch(/https?:\/\//)
    for (const asset of ['/dashboard/app.js', '/dashboard/style.css']) {
      const response = await fetch(`${url}${asset}`)
      expect(response.status).toBe(200)
      expect(await response.text()).not.toMatch(/(src|href|url)\s*[=(]\s*["']?https?:/)
    }
    const data = (await (await fetch(`${url}/api/dashboard`)).json()) as {
      node: { peerId: string }
      datasets: Array<{ name: string; servedBytes: number }>
      credits: { balance: number; series: unknown[] }
    }
    expect(data.node.peerId).toBe(daemon.node.peerId.toString())
    expect(data.datasets.map((d) => d.name)).toEqual(['tiny'])
    expect(data.datasets[0]!.servedBytes).toBe(0)
    expect(data.credits.balance).toBe(1000)
  })

  it('listens on loopback only', async () => {
    const address = daemon.api.app.server.address()
    expect(typeof address === 'object' && address !== null ? address.address : address).toBe('127.0.0.1')
    const port = Number(new URL(url).port)
    const external = localNonLoopbackIpv4()
    // Our own interface address: the connection never leaves this machine.
    if (external !== undefined) expect(await tryConnect(external, port)).toBe('ECONNREFUSED')
    expect(await tryConnect('127.0.0.1', port)).toBe('connected')
  })
})

describe('--api-host', () => {
  it('keeps loopback hosts and refuses others without --allow-remote-api', () => {
    const config = parseConfig({ dataDir: '/tmp/x' }, 'test')
    expect(withApiHost(config, undefined, false).api.host).toBe('127.0.0.1')
    expect(withApiHost(config, '127.0.0.2', false).api).toMatchObject({
      host: '127.0.0.2',
      allowRemote: false,
    })
    expect(() => withApiHost(config, '0.0.0.0', false)).toThrow(/--allow-remote-api/)
    expect(withApiHost(config, '0.0.0.0', true).api).toMatchObject({ host: '0.0.0.0', allowRemote: true })
  })

  it('bwnode start refuses a non-loopback host unless asked, and warns when asked', async () => {
    const dataDir = await tempDir()
    const refused = await runCli(['start', '--data', dataDir, '--api-host', '0.0.0.0', '--json'])
    expect(refused.code).toBe(2)
    expect(JSON.parse(refused.stdout)).toEqual({
      error: { code: 'ERR_USAGE', message: expect.stringContaining('--allow-remote-api') },
    })
    const daemon = await startDaemonProcess(
      ['--listen', '/ip4/127.0.0.1/tcp/0', '--api-host', '0.0.0.0', '--allow-remote-api'],
      dataDir,
    )
    try {
      expect(daemon.apiUrl).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/)
      await expect.poll(() => daemon.output()).toMatch(/warning: the HTTP API listens on http:\/\/0\.0\.0\.0/)
      const port = Number(new URL(daemon.apiUrl).port)
      expect(await tryConnect('127.0.0.1', port)).toBe('connected')
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0)
    }
  })
})
