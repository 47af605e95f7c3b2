import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { loadConfig, overridesFromEnv, parseConfig } from '../../src/config/load.ts'
import { openDatabase } from '../../src/db/database.ts'
import { ConfigError } from '../../src/errors/index.ts'
import { loadOrCreateIdentity } from '../../src/node/identity.ts'
import { runCli, tempDir } from '../helpers/daemon.ts'

const PEER = '12D3KooWCTT5TPcxwFfAjXgafkAi9ycEQgnCt2JAZcxqHGG2BoVv'

async function configFile(contents: string): Promise<string> {
  const dir = await tempDir()
  const file = join(dir, 'node.json')
  await writeFile(file, contents)
  return file
}

describe('config validation', () => {
  it('fills every default from an empty object', () => {
    const config = parseConfig({}, 'test')
    expect(config.api.host).toBe('127.0.0.1')
    expect(config.store.chunkSizeBytes).toBe(1024 * 1024)
    expect(config.listen.length).toBeGreaterThan(0)
  })

  it('rejects an unknown field, naming it', () => {
    expect(() => parseConfig({ api: { prot: 1 } }, 'f.json')).toThrow(/f\.json: unknown field api\.prot/)
    expect(() => parseConfig({ listn: [] }, 'f.json')).toThrow(/unknown field listn/)
  })

  it('rejects a wrong type, naming the field', () => {
    expect(() => parseConfig({ api: { port: 'x' } }, 'f.json')).toThrow(/f\.json: api\.port: .*number/)
  })

  it('rejects a bad multiaddr and a bootstrap address without a peer id', () => {
    expect(() => parseConfig({ listen: ['not/a/multiaddr'] }, 'f.json')).toThrow(
      /listen\.0: not a valid multiaddr/,
    )
    expect(() => parseConfig({ bootstrap: ['/ip4/127.0.0.1/tcp/1'] }, 'f.json')).toThrow(
      /bootstrap\.0: .*p2p/,
    )
    expect(parseConfig({ bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`] }, 'f').bootstrap).toHaveLength(1)
  })

  it('refuses a non-loopback API host unless allowRemote is set', () => {
    expect(() => parseConfig({ api: { host: '0.0.0.0' } }, 'f.json')).toThrow(/allowRemote/)
    expect(parseConfig({ api: { host: '0.0.0.0', allowRemote: true } }, 'f.json').api.host).toBe('0.0.0.0')
  })

  it('takes API host names without scheme or port', () => {
    expect(parseConfig({}, 'f.json').api.allowedHosts).toEqual([])
    const names = ['node.example', 'NODE-1', '192.168.1.5', '::1', '[fe80::1]']
    expect(parseConfig({ api: { allowedHosts: names } }, 'f.json').api.allowedHosts).toEqual(names)
    for (const bad of ['http://node.example', 'node.example:8080', '', '-x', 'a b', 'a/b']) {
      expect(() => parseConfig({ api: { allowedHosts: [bad] } }, 'f.json'), bad).toThrow(
        /api\.allowedHosts\.0: must be a host name or IP address/,
      )
    }
  })

  it('reports a missing file and invalid JSON with the file name', async () => {
    await expect(loadConfig('/nonexistent/bwnode.json')).rejects.toThrow(/bwnode\.json: file not found/)
    const file = await configFile('{ "listen": [ ')
    await expect(loadConfig(file)).rejects.toThrow(ConfigError)
    await expect(loadConfig(file)).rejects.toThrow(/invalid JSON/)
  })

  it('applies env overrides over the file and flags over env', async () => {
    const file = await configFile(JSON.stringify({ dataDir: '/from/file', api: { port: 1111 } }))
    const env = overridesFromEnv({
      BWNODE_DATA: '/from/env',
      BWNODE_API_PORT: '2222',
      BWNODE_LISTEN: '/ip4/127.0.0.1/tcp/5,/ip4/127.0.0.1/tcp/6',
    })
    const fromEnv = await loadConfig(file, env)
    expect(fromEnv.dataDir).toBe('/from/env')
    expect(fromEnv.api.port).toBe(2222)
    expect(fromEnv.listen).toHaveLength(2)
    const fromFlags = await loadConfig(file, { ...env, dataDir: '/from/flag' })
    expect(fromFlags.dataDir).toBe('/from/flag')
    expect(() => overridesFromEnv({ BWNODE_API_PORT: 'abc' })).toThrow(/BWNODE_API_PORT/)
  })

  it('start --uplink overrides offer.uplinkMbps and keeps the rest of the offer block', async () => {
    const file = await configFile(JSON.stringify({ offer: { uplinkMbps: 50, maxConcurrent: 3 } }))
    expect((await loadConfig(undefined)).offer.uplinkMbps).toBe(20)
    expect((await loadConfig(file)).offer.uplinkMbps).toBe(50)
    const flagged = await loadConfig(file, { uplinkMbps: 7.5 })
    expect(flagged.offer).toMatchObject({ uplinkMbps: 7.5, maxConcurrent: 3 })
  })

  it("reads a config file's relative dataDir beside the file, and --data / BWNODE_DATA as typed", async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'etc'))
    const file = join(dir, 'etc', 'node.json')
    await writeFile(file, JSON.stringify({ dataDir: '../var/node' }))
    // wherever the command runs from, the file's own directory anchors its dataDir
    expect((await loadConfig(file)).dataDir).toBe(join(dir, 'var', 'node'))
    expect((await loadConfig(file, { dataDir: 'here' })).dataDir).toBe('here')
    await writeFile(file, JSON.stringify({ dataDir: '/srv/bwnode' }))
    expect((await loadConfig(file)).dataDir).toBe('/srv/bwnode')
    // no dataDir in the file: the default, relative to the working directory
    await writeFile(file, JSON.stringify({}))
    expect((await loadConfig(file)).dataDir).toBe('.bwnode')
  })

  it('every shipped node config is valid', async () => {
    const dir = join(import.meta.dirname, '../../node-configs')
    const files = (await readdir(dir)).filter((name) => name.endsWith('.json'))
    expect(files.length).toBeGreaterThanOrEqual(4)
    for (const name of files) {
      const config = await loadConfig(join(dir, name))
      expect(config.dataDir.length).toBeGreaterThan(0)
    }
  })
})

describe('identity and database', () => {
  it('persists the private key with mode 0600 and keeps the peer id', async () => {
    const dir = await tempDir()
    const first = await loadOrCreateIdentity(dir)
    expect(first.created).toBe(true)
    const second = await loadOrCreateIdentity(dir)
    expect(second.created).toBe(false)
    expect(peerIdFromPrivateKey(second.privateKey).equals(peerIdFromPrivateKey(first.privateKey))).toBe(true)
    expect((await stat(join(dir, 'peer.key'))).mode & 0o777).toBe(0o600)
  })

  it('refuses a damaged key file instead of replacing it', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'peer.key'), 'garbage')
    await expect(loadOrCreateIdentity(dir)).rejects.toThrow(/peer\.key: not a valid libp2p private key/)
    expect(await readFile(join(dir, 'peer.key'), 'utf8')).toBe('garbage')
  })

  it('refuses a database with a newer schema version and leaves it untouched', async () => {
    const dir = await tempDir()
    const db = await openDatabase(dir)
    await db.put('schema-version', '99')
    await db.put('other', 'keep')
    await db.close()
    await expect(openDatabase(dir)).rejects.toThrow(/schema-version 99 is not supported/)
    const { Level } = await import('level')
    const raw = new Level<string, string>(join(dir, 'db'))
    expect(await raw.get('schema-version')).toBe('99')
    expect(await raw.get('other')).toBe('keep')
    await raw.close()
  })
})

describe('bwnode start with bad input (separate processes)', () => {
  it('exits 2 with one clear line for a bad config file', async () => {
    const file = await configFile(JSON.stringify({ api: { port: 'nope' }, extra: true }))
    const result = await runCli(['start', '--config', file, '--data', await tempDir()])
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/node\.json: .*api\.port/)
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/)
  })

  it('exits 2 for an unwritable data dir, a bad --listen, and an unknown flag', async () => {
    const parent = await tempDir()
    const blocked = join(parent, 'file')
    await writeFile(blocked, 'x')
    const unwritable = await runCli(['start', '--data', join(blocked, 'sub')])
    expect(unwritable.code).toBe(2)
    expect(unwritable.stderr).toMatch(/not writable/)
    const badListen = await runCli(['start', '--data', await tempDir(), '--listen', 'garbage'])
    expect(badListen.code).toBe(2)
    expect(badListen.stderr).toMatch(/listen\.0: not a valid multiaddr/)
    const unknown = await runCli(['start', '--frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown option '--frobnicate'/)
  })

  it('--uplink: a bad value exits 2 naming the flag and its range; --help states the default', async () => {
    for (const bad of ['fast', '-1', '', '2000000']) {
      const result = await runCli(['start', '--data', await tempDir(), '--uplink', bad])
      expect(result.code, bad).toBe(2)
      expect(result.stderr).toMatch(/--uplink \(Mbit\/s\) must be a number from 0 to 1000000/)
    }
    const json = await runCli(['start', '--json', '--uplink', '10M'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'ERR_USAGE' } })
    const help = await runCli(['start', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(
      /--uplink <mbps> uplink lent to peers for this run, Mbit\/s \(default 20/,
    )
  })

  it('exits 2 when the data dir has a newer schema, without touching it', async () => {
    const dir = await tempDir()
    const db = await openDatabase(dir)
    await db.put('schema-version', '7')
    await db.close()
    const result = await runCli(['start', '--data', dir])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/schema-version 7/)
    await mkdir(dir, { recursive: true })
  })

  it('says clearly when no daemon is running, in text and JSON', async () => {
    const dir = await tempDir()
    const text = await runCli(['status', '--data', dir])
    expect(text.code).toBe(1)
    expect(text.stderr).toMatch(/no bwnode daemon is running/)
    const json = await runCli(['status', '--api', 'http://127.0.0.1:9', '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'ERR_DAEMON_NOT_RUNNING' } })
  })
})
