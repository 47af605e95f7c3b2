/**
 * The HTTP client of the local API, for the CLI, the lab and the live experiment. It loads only the
 * contract (src/contract/api.ts), never the node or the server: a client process stays small.
 */

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_FILE, type ApiFile } from '../contract/api.ts'
import { ERR, relayedCode } from '../errors/codes.ts'
import { BwnodeError, ConfigError, UsageError } from '../errors/index.ts'

/**
 * Where a CLI command finds the daemon: --api URL, or --data DIR (its api.json).
 * The token for calls that change state: --token, else (with --api) BWNODE_API_TOKEN, else (with
 * --data) the one in api.json, else BWNODE_API_TOKEN.
 */
export interface DaemonLocation {
  api?: string
  data?: string
  token?: string
  /** Give up on each request after this long (--timeout). */
  timeoutMs?: number
}

export const DEFAULT_DATA_DIR = '.bwnode'

/** The data dir a command means: --data, else BWNODE_DATA, else .bwnode. */
export function dataDirOf(data: string | undefined): string {
  return data ?? process.env.BWNODE_DATA ?? DEFAULT_DATA_DIR
}

/** Parses --api: an http(s) URL, or a usage error that says so (not "is it running?"). */
export function parseApiUrl(text: string): string {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    const what = url === undefined ? 'a URL' : 'an http:// or https:// URL'
    throw new UsageError(
      `--api ${text} is not ${what}: give the daemon's API URL, e.g. --api http://127.0.0.1:4020`,
    )
  }
  return text.replace(/\/$/, '')
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

export class ApiClient {
  readonly url: string
  private readonly token: string | undefined
  private readonly timeoutMs: number | undefined

  constructor(url: string, token?: string, timeoutMs?: number) {
    this.url = url.replace(/\/$/, '')
    this.token = token
    this.timeoutMs = timeoutMs
  }

  get hasToken(): boolean {
    return this.token !== undefined && this.token !== ''
  }

  static async locate(location: DaemonLocation): Promise<ApiClient> {
    const envToken = process.env.BWNODE_API_TOKEN === '' ? undefined : process.env.BWNODE_API_TOKEN
    if (location.api !== undefined)
      return new ApiClient(parseApiUrl(location.api), location.token ?? envToken, location.timeoutMs)
    const dataDir = dataDirOf(location.data)
    const path = join(dataDir, API_FILE)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      throw new BwnodeError(
        ERR.DAEMON_NOT_RUNNING,
        `no bwnode daemon is running for data dir ${dataDir} (${path} not found); start one with: bwnode start --data ${dataDir}`,
      )
    }
    let file: ApiFile
    try {
      file = JSON.parse(text) as ApiFile
    } catch {
      throw new ConfigError(`${path}: invalid JSON`)
    }
    if (typeof file.url !== 'string') throw new ConfigError(`${path}: no "url"`)
    return new ApiClient(file.url, location.token ?? file.token ?? envToken, location.timeoutMs)
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal)
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, body, signal)
  }

  async delete<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('DELETE', path, undefined, signal)
  }

  async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = {}
    if (this.hasToken) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const timeout = this.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.timeoutMs)
    const signals = [signal, timeout].filter((s): s is AbortSignal => s !== undefined)
    const combined = signals.length === 0 ? undefined : AbortSignal.any(signals)
    const timedOut = (err: unknown): BwnodeError =>
      new BwnodeError(
        ERR.TIMEOUT,
        `no answer from the bwnode daemon at ${this.url} within ${seconds(this.timeoutMs ?? 0)} (--timeout)`,
        { cause: err },
      )
    let response: Response
    let text: string
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(combined === undefined ? {} : { signal: combined }),
      })
    } catch (err) {
      if (signal?.aborted) throw err
      if (timeout?.aborted) throw timedOut(err)
      throw new BwnodeError(
        ERR.DAEMON_NOT_RUNNING,
        `cannot reach the bwnode daemon at ${this.url} (is it running?)`,
        { cause: err },
      )
    }
    try {
      text = await response.text()
    } catch (err) {
      if (signal?.aborted) throw err
      if (timeout?.aborted) throw timedOut(err)
      throw new BwnodeError(ERR.API, `the daemon at ${this.url} broke off its reply`, { cause: err })
    }
    let data: unknown
    try {
      data = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      throw new BwnodeError(ERR.API, `daemon sent a non-JSON reply (${response.status})`)
    }
    if (!response.ok) throw this.errorOf(response.status, data)
    return data as T
  }

  /**
   * A GET whose reply is bytes, not JSON (`bwnode cat`): the body as it arrives. `--timeout`
   * bounds the wait for the reply to start, not the transfer of a large file.
   */
  async download(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = {}
    if (this.hasToken) headers.authorization = `Bearer ${this.token}`
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    const timer =
      this.timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(), this.timeoutMs)
    let response: Response
    try {
      response = await fetch(`${this.url}${path}`, { headers, signal: controller.signal })
    } catch (err) {
      if (signal?.aborted) throw err
      if (controller.signal.aborted) {
        throw new BwnodeError(
          ERR.TIMEOUT,
          `no answer from the bwnode daemon at ${this.url} within ${seconds(this.timeoutMs ?? 0)} (--timeout)`,
          { cause: err },
        )
      }
      throw new BwnodeError(
        ERR.DAEMON_NOT_RUNNING,
        `cannot reach the bwnode daemon at ${this.url} (is it running?)`,
        { cause: err },
      )
    } finally {
      clearTimeout(timer)
    }
    if (!response.ok || response.body === null) {
      let data: unknown
      try {
        data = JSON.parse(await response.text())
      } catch {
        data = undefined
      }
      throw this.errorOf(response.status, data)
    }
    return response.body
  }

  /** The daemon's error reply as a BwnodeError with its code, and a hint for a refused token. */
  private errorOf(status: number, data: unknown): BwnodeError {
    const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error
    const code = error?.code ?? ERR.API
    let message = error?.message ?? `daemon replied ${status}`
    if (code === ERR.UNAUTHORIZED) {
      message += this.hasToken
        ? ' (the token given was refused: `bwnode token` on the daemon machine prints the current one; it changes only with `bwnode token --rotate`)'
        : ' (pass --token TOKEN or set BWNODE_API_TOKEN; `bwnode token` on the daemon machine prints it)'
    }
    return new BwnodeError(relayedCode(code), message)
  }
}
