import { type ChildProcess, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ApiClient } from '../client/api-client.ts'
import { API_FILE, type ApiFile } from '../contract/api.ts'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import { DEFAULT_READY_TIMEOUT_MS, DEFAULT_STOP_GRACE_MS } from './constants.ts'
import type { LabNodeSpec } from './nodes.ts'

/** The CLI entry point the lab re-runs for each daemon. */
export const BWNODE_BIN = resolve(import.meta.dirname, '../../bin/bwnode.js')

const READY_LINE = /^bwnode ready (\S+) api=(\S+) listen=(\S*)$/m

/** Keeps the tail of a child's output for error messages without growing without bound. */
const OUTPUT_TAIL_CHARS = 4000

export interface LabNodeProcess {
  spec: LabNodeSpec
  child: ChildProcess
  pid: number
  peerId: string
  apiUrl: string
  /** Listen addresses, each ending in /p2p/<peerId>. */
  listen: string[]
  dataDir: string
  api: ApiClient
  /** Last lines the daemon printed (for error reports). */
  output(): string
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>
}

export interface SpawnLabNodeOptions {
  dataDir: string
  bootstrap?: string[]
  readyTimeoutMs?: number
  /** Node binary; the lab's own by default, so daemons run on the same Node. */
  execPath?: string
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** Kills a child: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
  if (exited(child)) return Promise.resolve()
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      done()
    })
    child.kill('SIGTERM')
  })
}

/**
 * Starts one lab node as its own `bwnode start` process with a fresh data dir,
 * a loopback listen address on any free port and an API on any free port, and
 * resolves when it prints its ready line. The child is returned to `onSpawn`
 * right away so a caller can kill it even if it never gets ready.
 */
export function spawnLabNode(
  spec: LabNodeSpec,
  options: SpawnLabNodeOptions,
  onSpawn: (child: ChildProcess) => void = () => {},
): Promise<LabNodeProcess> {
  const args = [
    BWNODE_BIN,
    'start',
    '--config',
    spec.file,
    '--data',
    options.dataDir,
    '--listen',
    '/ip4/127.0.0.1/tcp/0',
    '--api-port',
    '0',
  ]
  for (const addr of options.bootstrap ?? []) args.push('--bootstrap', addr)
  const child = spawn(options.execPath ?? process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // A lab's BWNODE_* overrides would point every daemon at the same data dir or port.
    env: withoutBwnodeOverrides(process.env),
  })
  onSpawn(child)
  let tail = ''
  const remember = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS)
  }
  child.stderr?.on('data', remember)
  return new Promise((resolvePromise, reject) => {
    let stdout = ''
    let settled = false
    const fail = (message: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new BwnodeError(ERR.LAB_NODE, `${spec.name}: ${message}\n${tail.trim()}`))
    }
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs)
    child.on('error', (err) => fail(`cannot start: ${err.message}`))
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`))
    child.stdout?.on('data', (chunk: Buffer) => {
      remember(chunk)
      if (settled) return
      stdout += chunk.toString()
      const match = READY_LINE.exec(stdout)
      if (match === null) return
      settled = true
      clearTimeout(timer)
      const [, peerId = '', apiUrl = '', listen = ''] = match
      readApiToken(options.dataDir).then(
        (token) =>
          resolvePromise({
            spec,
            child,
            pid: child.pid ?? -1,
            peerId,
            apiUrl,
            listen: listen.split(',').filter((addr) => addr.length > 0),
            dataDir: options.dataDir,
            api: new ApiClient(apiUrl, token),
            output: () => tail,
            stop: (graceMs) => stopChild(child, graceMs),
          }),
        reject,
      )
    })
  })
}

async function readApiToken(dataDir: string): Promise<string> {
  const file = JSON.parse(await readFile(join(dataDir, API_FILE), 'utf8')) as ApiFile
  return file.token
}

export function withoutBwnodeOverrides(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('BWNODE_')))
}
