import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const BIN = resolve(import.meta.dirname, '../../bin/bwnode.js')

export async function tempDir(prefix = 'bwnode-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export interface CliResult {
  code: number | null
  stdout: string
  /** stdout as bytes (`cat` of a binary file) */
  stdoutBytes: Buffer
  stderr: string
}

/** Runs the real CLI in a child process under the same Node as the tests. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const stdoutBytes = Buffer.concat(out)
      resolvePromise({ code, stdout: stdoutBytes.toString(), stdoutBytes, stderr })
    })
  })
}

export interface DaemonProcess {
  child: ChildProcess
  peerId: string
  apiUrl: string
  listen: string[]
  dataDir: string
  output: () => string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `bwnode start` in its own process and waits for its ready line. */
export function startDaemonProcess(
  args: string[],
  dataDir: string,
  timeoutMs = 30_000,
): Promise<DaemonProcess> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, 'start', '--data', dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    const exited = new Promise<number | null>((done) =>
      child.on('exit', (code, signal) => {
        // A daemon ended by a signal it did not handle is worth the evidence in the test log.
        if (code === null && signal !== 'SIGKILL')
          console.error(`daemon ended by ${signal}:\n${stdout}\n${stderr}`)
        done(code)
      }),
    )
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`daemon not ready after ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /^bwnode ready (\S+) api=(\S+) listen=(\S+)$/m.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolvePromise({
          child,
          peerId: match[1]!,
          apiUrl: match[2]!,
          listen: match[3]!.split(','),
          dataDir,
          output: () => stdout + stderr,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
            child.kill(signal)
            return exited
          },
        })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`daemon exited with ${code} before ready\n${stdout}\n${stderr}`))
    })
  })
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

/** Where a daemon's API is and its token, from the `api.json` it wrote in its data dir. */
export interface ApiHandle {
  url: string
  token: string
}

export async function readApiFile(dataDir: string): Promise<ApiHandle> {
  return JSON.parse(await readFile(join(dataDir, 'api.json'), 'utf8')) as ApiHandle
}

/** A call to a daemon's API with its token; throws on a non-2xx answer. */
export async function api<T>(handle: ApiHandle, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${handle.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${handle.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`)
  return JSON.parse(text) as T
}

export { waitFor } from '../../src/util/poll.ts'
