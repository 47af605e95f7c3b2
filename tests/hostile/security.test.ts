import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { readApiFile, tempDir } from '../helpers/daemon.ts'

/** The local HTTP API and the files a daemon leaves on disk, as an attacker on the machine sees them. */
describe('security: API surface and key files', () => {
  let daemon: RunningDaemon
  let dataDir: string
  let url: string

  beforeAll(async () => {
    dataDir = await tempDir('bwnode-security-')
    daemon = await startDaemon(parseConfig({ dataDir, latency: { pingIntervalMs: 60_000 } }, 'security test'))
    url = daemon.api.url
  })
  afterAll(async () => {
    await daemon?.stop()
  })

  it('listens on loopback by default', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('refuses every state-changing route without the token, or with a wrong one', async () => {
    const calls: Array<[string, string, unknown]> = [
      ['POST', '/api/datasets', { path: '/etc' }],
      ['POST', '/api/seeds', { name: 'tiny' }],
      ['POST', '/api/fetch', { cid: 'bafy' }],
      ['DELETE', '/api/datasets/bafy', undefined],
      ['DELETE', '/api/transfers/1', undefined],
      ['POST', '/api/token/rotate', {}],
      ['POST', '/api/shutdown', {}],
      ['PUT', '/api/datasets', {}],
      ['PATCH', '/api/datasets', {}],
    ]
    for (const [method, path, body] of calls) {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${'0'.repeat(48)}`, 'Basic abc']) {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: {
            ...(authorization === undefined ? {} : { authorization }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        expect(response.status, `${method} ${path} with ${authorization}`).toBe(401)
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_UNAUTHORIZED')
      }
    }
    // A refused shutdown stops nothing (a route's onResponse hook would: it runs for the 401 too).
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await fetch(`${url}/api/status`)).status).toBe(200)
  })

  it('sends no CORS headers, so a web page cannot read answers or pass a preflight', async () => {
    const preflight = await fetch(`${url}/api/fetch`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    })
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull()
    const read = await fetch(`${url}/api/status`, { headers: { origin: 'https://evil.example' } })
    expect(read.status).toBe(200)
    expect(read.headers.get('access-control-allow-origin')).toBeNull()
    // A "simple" cross-site form post carries no Authorization header: refused before any work.
    const form = await fetch(`${url}/api/seeds`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: '{"name":"tiny"}',
    })
    expect(form.status).toBe(401)
  })

  it('refuses a body over the 1 MiB limit even with the token', async () => {
    const { token } = await readApiFile(dataDir)
    const response = await fetch(`${url}/api/fetch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cid: 'x'.repeat(2 * 1024 * 1024) }),
    })
    expect(response.status).toBe(413)
  })

  it('keeps the identity key and the API token readable by the owner only', async () => {
    for (const file of ['peer.key', 'api-token', 'api.json']) {
      const mode = (await stat(join(dataDir, file))).mode & 0o777
      expect(mode, file).toBe(0o600)
    }
  })

  it('refuses to expose the API on a non-loopback host unless told to', () => {
    expect(() => parseConfig({ api: { host: '0.0.0.0' } }, 'x')).toThrow(/allowRemote/)
    expect(parseConfig({ api: { host: '0.0.0.0', allowRemote: true } }, 'x').api.host).toBe('0.0.0.0')
  })
})
