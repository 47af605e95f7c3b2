import { spawn, spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { mkdir, rm, symlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, parseConfig } from '../../src/config/load.ts'
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.ts'
import { BIN, tempDir, waitFor } from '../helpers/daemon.ts'

const ROOT = resolve(import.meta.dirname, '../..')
/** Where the Dockerfile puts the repository in the image. */
const IMAGE_ROOT = '/opt/bwnode'
const fromImage = (path: string): string => join(ROOT, path.slice(IMAGE_ROOT.length))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')
const succeeds = (command: string, args: string[]): boolean =>
  spawnSync(command, args, { stdio: 'ignore', timeout: 20_000 }).status === 0
const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerInstructions(): Array<{ op: string; args: string }> {
  return read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/)
      return { op: op!.toUpperCase(), args: rest.join(' ') }
    })
}

/** The compose file: YAML, written as a JSON document after its comment lines. */
interface ComposeService {
  build?: { context: string; dockerfile: string }
  image: string
  environment?: Record<string, string>
  volumes: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  entrypoint?: string[]
}
function compose(): {
  name: string
  services: Record<string, ComposeService>
  volumes: Record<string, object>
} {
  const text = read('deploy/compose.yaml')
  return JSON.parse(
    text
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .join('\n'),
  )
}

/** A systemd unit as section -> key -> values (a key may repeat). */
function unitFile(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section !== null) {
      current = new Map()
      sections.set(section[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    expect(eq, `not key=value: ${line}`).toBeGreaterThan(0)
    expect(current, `key outside a section: ${line}`).toBeDefined()
    const key = line.slice(0, eq).trim()
    current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return sections
}

describe('Dockerfile', () => {
  const instructions = dockerInstructions()
  const all = (op: string) => instructions.filter((i) => i.op === op).map((i) => i.args)

  it('builds on node:24-slim, installs without dev dependencies, runs bwnode start as a non-root user', () => {
    expect(all('FROM')).toEqual(['node:24-slim'])
    expect(all('RUN').some((run) => run.includes('npm ci --omit=dev'))).toBe(true)
    const users = all('USER')
    expect(users.length).toBeGreaterThan(0)
    expect(['root', '0']).not.toContain(users.at(-1))
    expect(all('RUN').some((run) => run.includes(`useradd --system --gid bwnode`))).toBe(true)
    expect(all('ENTRYPOINT').map((e) => JSON.parse(e))).toEqual([['bwnode', 'start']])
    expect(
      all('RUN').some((run) => run.includes(`ln -s ${IMAGE_ROOT}/bin/bwnode.js /usr/local/bin/bwnode`)),
    ).toBe(true)
    expect(executable(join(ROOT, 'bin/bwnode.js'))).toBe(true)
  })

  it('keeps the data dir in a volume, owned by that user, and BWNODE_DATA points at it', () => {
    expect(all('VOLUME').map((v) => JSON.parse(v))).toEqual([['/var/lib/bwnode']])
    const env = all('ENV').join(' ')
    expect(env).toMatch(/BWNODE_DATA=\/var\/lib\/bwnode\b/)
    expect(all('RUN').some((run) => run.includes('chown bwnode:bwnode /var/lib/bwnode'))).toBe(true)
    expect(all('HEALTHCHECK').join(' ')).toMatch(/CMD \["bwnode", "status"/)
  })

  it('copies files that exist and that .dockerignore keeps; its BWNODE_CONFIG is a valid config', async () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    for (const copy of all('COPY')) {
      const sources = copy.split(/\s+/).slice(0, -1)
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true)
        expect(
          ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
          `COPY ${source} is in .dockerignore`,
        ).toBe(false)
      }
    }
    expect(ignored).toContain('node_modules')
    const config = /BWNODE_CONFIG=(\S+)/.exec(all('ENV').join(' '))?.[1]
    expect(config).toBeDefined()
    const parsed = await loadConfig(fromImage(config!))
    expect(parsed.listen).toEqual(['/ip4/0.0.0.0/tcp/4010'])
    expect(parsed.api.host).toBe('127.0.0.1')
  })

  const engine = ['docker', 'podman'].find((tool) => succeeds(tool, ['info']))
  it.skipIf(engine === undefined)(
    `builds as an image (${engine ?? 'skipped: neither docker nor podman answers `info` here'})`,
    () => {
      const result = spawnSync(engine!, ['build', '-t', 'bwnode:test', ROOT], {
        encoding: 'utf8',
        timeout: 900_000,
      })
      expect(result.status, result.stderr).toBe(0)
      const version = spawnSync(
        engine!,
        ['run', '--rm', '--entrypoint', 'bwnode', 'bwnode:test', '--version'],
        {
          encoding: 'utf8',
        },
      )
      expect(version.stdout.trim()).toBe(JSON.parse(read('package.json')).version)
    },
    900_000,
  )
})

describe('deploy/compose.yaml: a three-node network', () => {
  const file = compose()
  const services = file.services

  it('is one bootstrap node and two peers, each with its own data volume, from this Dockerfile', () => {
    expect(Object.keys(services).sort()).toEqual(['bootstrap', 'peer-1', 'peer-2'])
    const volumes = new Set<string>()
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toBe('bwnode:local')
      expect(service.build, name).toEqual({ context: '..', dockerfile: 'Dockerfile' })
      expect(existsSync(join(ROOT, 'deploy', service.build!.context, service.build!.dockerfile))).toBe(true)
      const data = service.volumes.find((v) => v.endsWith(':/var/lib/bwnode'))
      expect(data, name).toBeDefined()
      const volume = data!.split(':')[0]!
      expect(file.volumes, `${name}: volume ${volume} declared`).toHaveProperty(volume)
      expect(volumes.has(volume), `${name} shares ${volume}`).toBe(false)
      volumes.add(volume)
    }
  })

  it('the bootstrap node answers the peers under its service name; they start once it is healthy', async () => {
    const bootstrap = services.bootstrap!
    const config = await loadConfig(fromImage(bootstrap.environment!.BWNODE_CONFIG!))
    expect(config.api.allowedHosts).toContain('bootstrap')
    expect(config.api.allowRemote).toBe(true)
    const listenPort = /\/tcp\/(\d+)$/.exec(config.listen[0]!)?.[1]
    expect(bootstrap.ports).toEqual([`${listenPort}:${listenPort}`])
    expect(dockerInstructions().some((i) => i.op === 'HEALTHCHECK')).toBe(true)
    for (const name of ['peer-1', 'peer-2']) {
      const peer = services[name]!
      expect(peer.depends_on).toEqual({ bootstrap: { condition: 'service_healthy' } })
      expect(peer.environment!.BOOTSTRAP_API).toBe(`http://bootstrap:${config.api.port}`)
      expect(peer.environment!.BOOTSTRAP_ADDR).toBe(`/dns4/bootstrap/tcp/${listenPort}`)
      const script = peer.entrypoint![0]!
      expect(executable(fromImage(script)), script).toBe(true)
      expect(
        dockerInstructions().some(
          (i) => i.op === 'COPY' && i.args.endsWith(script.slice(IMAGE_ROOT.length + 1)),
        ),
      ).toBe(true)
    }
  })

  const hasCompose = succeeds('docker', ['compose', 'version'])
  it.skipIf(!hasCompose)(
    `docker compose reads it (${hasCompose ? 'docker compose config' : 'skipped: no docker compose here; the structure above is all that is checked'})`,
    () => {
      const result = spawnSync(
        'docker',
        ['compose', '-f', join(ROOT, 'deploy/compose.yaml'), 'config', '--quiet'],
        {
          encoding: 'utf8',
        },
      )
      expect(result.status, result.stderr).toBe(0)
    },
  )
})

describe('deploy/peer-entrypoint.sh', () => {
  let bootstrap: RunningDaemon
  let work: string
  beforeAll(async () => {
    work = await tempDir('bwnode-peer-entrypoint-')
    bootstrap = await startDaemon(
      parseConfig({ dataDir: join(work, 'bootstrap'), listen: ['/ip4/127.0.0.1/tcp/0'] }, 'bootstrap'),
    )
  })
  afterAll(async () => {
    await bootstrap?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it('asks the bootstrap node for its peer id and starts a peer that connects to it by name', async () => {
    // `bwnode` and `node` on the PATH, as in the image.
    const bin = join(work, 'bin')
    await mkdir(bin)
    await symlink(BIN, join(bin, 'bwnode'))
    const port = /\/tcp\/(\d+)\//.exec(`${bootstrap.node.queries.status().multiaddrs[0]}`)?.[1]
    const child = spawn(
      join(ROOT, 'deploy/peer-entrypoint.sh'),
      ['--data', join(work, 'peer'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', '0'],
      {
        env: {
          ...process.env,
          PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}`,
          BOOTSTRAP_API: bootstrap.api.url,
          BOOTSTRAP_ADDR: `/dns4/localhost/tcp/${port}`,
          BWNODE_CONFIG: '',
          BWNODE_BOOTSTRAP: '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    try {
      await waitFor(async () => (/^bwnode ready /m.test(output) ? true : undefined), {
        what: `the peer ready\n${output}`,
        timeoutMs: 30_000,
      })
      expect(output).toContain(`bootstrapping from /dns4/localhost/tcp/${port}/p2p/${bootstrap.node.peerId}`)
      await waitFor(async () => (bootstrap.node.queries.status().connectedPeers >= 1 ? true : undefined), {
        what: 'the peer connected to the bootstrap node',
      })
    } finally {
      // `exec` made the script the node process itself: SIGTERM stops it cleanly.
      child.kill('SIGTERM')
    }
    expect(await exited, output).toBe(0)
  })
})

describe('deploy/bwnode.service', () => {
  const text = read('deploy/bwnode.service')
  const unit = unitFile(text)
  const value = (section: string, key: string): string | undefined => unit.get(section)?.get(key)?.at(-1)

  it('runs bwnode start as a dedicated user in its state directory, restarting on failure', () => {
    expect(value('Unit', 'Description')).toMatch(/bwnode/)
    expect(value('Unit', 'After')).toContain('network-online.target')
    expect(value('Unit', 'Wants')).toContain('network-online.target')
    expect(value('Service', 'User')).toBe('bwnode')
    expect(value('Service', 'StateDirectory')).toBe('bwnode')
    expect(value('Service', 'Environment')).toBe('BWNODE_DATA=/var/lib/bwnode')
    expect(value('Service', 'ExecStart')).toBe(`${IMAGE_ROOT}/bin/bwnode.js start`)
    expect(value('Service', 'Restart')).toBe('on-failure')
    expect(value('Service', 'RestartPreventExitStatus')).toBe('2')
    expect(value('Install', 'WantedBy')).toBe('multi-user.target')
    // The user the unit names is the one the sysusers file makes.
    expect(read('deploy/bwnode.sysusers')).toMatch(/^u bwnode - .* \/var\/lib\/bwnode /m)
  })

  it('is hardened, and leaves V8 able to compile', () => {
    const required: Record<string, string> = {
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      SystemCallFilter: '@system-service',
      UMask: '0077',
    }
    for (const [key, expected] of Object.entries(required)) expect(value('Service', key), key).toBe(expected)
    expect(value('Service', 'RestrictAddressFamilies')?.split(' ').sort()).toEqual([
      'AF_INET',
      'AF_INET6',
      'AF_NETLINK',
      'AF_UNIX',
    ])
    expect(value('Service', 'MemoryDenyWriteExecute')).toBeUndefined()
  })

  const analyze = succeeds('sh', ['-c', 'command -v systemd-analyze'])
  it.skipIf(!analyze)(
    `systemd-analyze verify finds nothing to say (${analyze ? 'with ExecStart pointed at this checkout' : 'skipped: systemd-analyze is not installed here'})`,
    async () => {
      // verify checks that ExecStart exists and is executable: point it at this checkout's bin.
      const dir = await tempDir('bwnode-unit-')
      const copy = join(dir, 'bwnode.service')
      const { writeFile } = await import('node:fs/promises')
      await writeFile(copy, text.replace(`${IMAGE_ROOT}/bin/bwnode.js`, join(ROOT, 'bin/bwnode.js')))
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
      expect(result.status, result.stderr).toBe(0)
      // It warns (unknown keys, bad values) on stderr and still exits 0: anything it says is a failure.
      expect(result.stderr.split('\n').filter((line) => line.includes('bwnode.service'))).toEqual([])
      await rm(dir, { recursive: true, force: true })
    },
  )
})
