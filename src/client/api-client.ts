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
    const sent = await this.send(method, path, body, signal)
    let text: string
    try {
      text = await sent.response.text()
    } catch (err) {
      throw sent.explain(
        err,
        () => new BwnodeError(ERR.API, `the daemon at ${this.url} broke off its reply`, { cause: err }),
      )
    } finally {
      sent.release()
    }
    let data: unknown
    try {
      data = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      throw new BwnodeError(ERR.API, `daemon sent a non-JSON reply (${sent.response.status})`)
    }
    if (!sent.response.ok) throw this.errorOf(sent.response.status, data)
    return data as T
  }

  /**
   * A GET whose reply is bytes, not JSON (`bwnode cat`): the body as it arrives. `--timeout`
   * bounds the wait for the reply to start, not the transfer of a large file; the caller's
   * signal still stops the transfer.
   */
  async download(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const sent = await this.send('GET', path, undefined, signal)
    sent.stopTimer()
    const { response } = sent
    if (!response.ok || response.body === null) {
      let data: unknown
      try {
        data = JSON.parse(await response.text())
      } catch {
        data = undefined
      }
      sent.release()
      throw this.errorOf(response.status, data)
    }
    return response.body
  }

  /**
   * Sends one request, bounded by `--timeout` and the caller's signal until `stopTimer` or
   * `release` (which also drops the signal's listener). A failure before the reply is said as
   * the timeout, or as an unreachable daemon; `explain` says a later one the same way.
   */
  private async send(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<{
    response: Response
    stopTimer: () => void
    release: () => void
    explain: (err: unknown, otherwise: () => BwnodeError) => unknown
  }> {
    const headers: Record<string, string> = {}
    if (this.hasToken) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const controller = new AbortController()
    const onAbort = (): void => controller.abort(signal?.reason)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    const timer =
      this.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            controller.abort()
          }, this.timeoutMs)
    const stopTimer = (): void => clearTimeout(timer)
    const release = (): void => {
      stopTimer()
      signal?.removeEventListener('abort', onAbort)
    }
    const explain = (err: unknown, otherwise: () => BwnodeError): unknown => {
      if (signal?.aborted) return err
      if (timedOut) {
        return new BwnodeError(
          ERR.TIMEOUT,
          `no answer from the bwnode daemon at ${this.url} within ${seconds(this.timeoutMs ?? 0)} (--timeout)`,
          { cause: err },
        )
      }
      return otherwise()
    }
    try {
      const response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        signal: controller.signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { response, stopTimer, release, explain }
    } catch (err) {
      release()
      throw explain(
        err,
        () =>
          new BwnodeError(
            ERR.DAEMON_NOT_RUNNING,
            `cannot reach the bwnode daemon at ${this.url} (is it running?)`,
            {
              cause: err,
            },
          ),
      )
    }
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
