import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAuthority } from '../../src/api/host-check.ts'
import { type ApiServer, createApiApp, listenApi } from '../../src/api/server.ts'
import { withApiHost } from '../../src/cli/node-options.ts'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
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

interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/**
 * One request through node:http, so the Host header is sent exactly as given
 * (fetch() would replace it with the URL's host); `host: null` sends none.
 */
function rawRequest(
  url: string,
  path: string,
  options: { method?: string; host: string | null; headers?: Record<string, string>; body?: string },
): Promise<RawAnswer> {
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(target.port),
        path,
        method: options.method ?? 'GET',
        setHost: false,
        headers: {
          ...(options.host === null ? {} : { host: options.host }),
          ...options.headers,
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
        },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
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
    ['POST', '/api/token', undefined],
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

  it('answers the token check (the dashboard unlock) with the token, from the API page', async () => {
    const response = await fetch(`${url}/api/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${daemon.api.token}`, origin: url },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ valid: true })
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
    // every script and stylesheet the page names is served by the node, none reaches out
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!)
    expect(assets).toEqual(
      expect.arrayContaining([
        '/dashboard/app.js',
        '/dashboard/style.css',
        '/dashboard/uplot.js',
        '/dashboard/uplot.css',
      ]),
    )
    for (const asset of assets) {
      const response = await fetch(`${url}${asset}`)
      expect(response.status, asset).toBe(200)
      if (asset.endsWith('.ico')) continue
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

  // What a DNS-rebinding page reaches: its own name, now pointing at 127.0.0.1.
  const readRoutes = [
    '/',
    '/dashboard/app.js',
    '/favicon.ico',
    '/api/dashboard',
    '/api/status',
    '/api/credits',
    '/metrics',
    '/nowhere',
  ]

  it('refuses a request whose Host does not name the API, before any route runs', async () => {
    const port = new URL(url).port
    const forged = [
      `evil.example:${port}`,
      'evil.example',
      `localhost.evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `127.0.0.1:${Number(port) === 1 ? 2 : 1}`,
      `[::2]:${port}`,
      '',
    ]
    for (const host of forged) {
      for (const path of readRoutes) {
        const answer = await rawRequest(url, path, { host })
        expect(answer.status, `${path} with Host ${host}`).toBe(421)
        expect(answer.headers['content-type']).toMatch(/^application\/json/)
        expect(JSON.parse(answer.body)).toEqual({
          error: { code: 'ERR_BAD_HOST', message: expect.stringContaining('api.json') },
        })
        expect(answer.body).not.toContain(daemon.node.peerId.toString())
      }
    }
    // Refused before the token check too: a forged Host never reaches a state change.
    const write = await rawRequest(url, '/api/seeds', {
      method: 'POST',
      host: `evil.example:${port}`,
      headers: { authorization: `Bearer ${daemon.api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'tiny' }),
    })
    expect(write.status).toBe(421)
    const noHost = await rawRequest(url, '/api/status', { host: null })
    expect(noHost.status).toBeGreaterThanOrEqual(400)
    expect(noHost.body).not.toContain(daemon.node.peerId.toString())
  })

  it('answers every loopback name of the bound port, as the CLI and the dashboard send it', async () => {
    const port = new URL(url).port
    for (const host of [
      new URL(url).host,
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LocalHost:${port}`,
      `[::1]:${port}`,
    ]) {
      for (const path of readRoutes) {
        const answer = await rawRequest(url, path, { host })
        expect(answer.status, `${path} with Host ${host}`).toBe(path === '/nowhere' ? 404 : 200)
      }
      const status = JSON.parse((await rawRequest(url, '/api/status', { host })).body) as { peerId: string }
      expect(status.peerId).toBe(daemon.node.peerId.toString())
    }
  })

  it('refuses a state change from a foreign browser origin even with the token', async () => {
    const host = new URL(url).host
    const cancel = (origin: string | undefined) =>
      rawRequest(url, '/api/transfers/999', {
        method: 'DELETE',
        host,
        headers: {
          authorization: `Bearer ${daemon.api.token}`,
          ...(origin === undefined ? {} : { origin }),
        },
      })
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${new URL(url).port}`,
      'null',
      'file://',
    ]) {
      const answer = await cancel(origin)
      expect(answer.status, origin).toBe(403)
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'ERR_BAD_ORIGIN', message: expect.any(String) },
      })
    }
    // The dashboard's own origin and clients that send none (CLI, curl) reach the route: no such transfer.
    for (const origin of [url, `http://localhost:${new URL(url).port}`, undefined]) {
      const answer = await cancel(origin)
      expect(answer.status, String(origin)).toBe(404)
    }
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

describe('Host check off loopback', () => {
  const servers: ApiServer[] = []
  afterAll(async () => {
    for (const server of servers) await server.close()
  })

  async function serve(bindHost: string, allowedHosts: string[] = []): Promise<ApiServer> {
    const token = 'test-token'
    const app = createApiApp(token, { bindHost, allowedHosts })
    app.get('/api/status', async () => ({ ok: true }))
    const server = await listenApi(app, { host: bindHost, port: 0, token })
    servers.push(server)
    return server
  }

  it('answers configured names on any port and nothing else', async () => {
    const server = await serve('127.0.0.1', ['node.example', 'Proxy.Example'])
    for (const host of ['node.example', 'node.example:8443', 'proxy.example:80', 'NODE.EXAMPLE']) {
      expect((await rawRequest(server.url, '/api/status', { host })).status, host).toBe(200)
    }
    for (const host of ['evil.example', 'sub.node.example', 'node.example.evil.example']) {
      expect((await rawRequest(server.url, '/api/status', { host })).status, host).toBe(421)
    }
  })

  it('bound to 0.0.0.0, answers the address a request arrived on and the URL it reports', async () => {
    const server = await serve('0.0.0.0')
    const port = new URL(server.url).port
    expect(server.url).toBe(`http://0.0.0.0:${port}`)
    expect((await rawRequest(server.url, '/api/status', { host: `0.0.0.0:${port}` })).status).toBe(200)
    expect((await rawRequest(server.url, '/api/status', { host: `evil.example:${port}` })).status).toBe(421)
    const external = localNonLoopbackIpv4()
    if (external !== undefined) {
      const direct = `http://${external}:${port}`
      expect((await rawRequest(direct, '/api/status', { host: `${external}:${port}` })).status).toBe(200)
      expect((await rawRequest(direct, '/api/status', { host: `evil.example:${port}` })).status).toBe(421)
    }
  })

  it('parses Host headers strictly', () => {
    expect(parseAuthority('127.0.0.1:4020')).toEqual({ name: '127.0.0.1', port: 4020 })
    expect(parseAuthority('[::1]:4020')).toEqual({ name: '::1', port: 4020 })
    expect(parseAuthority('[::ffff:127.0.0.1]:1')).toEqual({ name: '127.0.0.1', port: 1 })
    expect(parseAuthority('Example.ORG')).toEqual({ name: 'example.org', port: 80 })
    for (const bad of ['', ':80', '::1', '[::1', '[::1]x', '[zz]:1', 'a:b', 'a:80:80', 'a:99999', 'a:-1']) {
      expect(parseAuthority(bad), bad).toBeUndefined()
    }
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
