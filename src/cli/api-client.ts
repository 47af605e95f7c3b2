import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BwnodeError, ConfigError } from '../errors/index.ts'
import { API_FILE, type ApiFile } from '../node/daemon.ts'

/** Where a CLI command finds the daemon: --api URL, or --data DIR (its api.json). */
export interface DaemonLocation {
  api?: string
  data?: string
  token?: string
}

export const DEFAULT_DATA_DIR = '.bwnode'

export class ApiClient {
  readonly url: string
  private readonly token: string | undefined

  constructor(url: string, token?: string) {
    this.url = url.replace(/\/$/, '')
    this.token = token
  }

  static async locate(location: DaemonLocation): Promise<ApiClient> {
    if (location.api !== undefined)
      return new ApiClient(location.api, location.token ?? process.env.BWNODE_API_TOKEN)
    const dataDir = location.data ?? process.env.BWNODE_DATA ?? DEFAULT_DATA_DIR
    const path = join(dataDir, API_FILE)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      throw new BwnodeError(
        'ERR_DAEMON_NOT_RUNNING',
        `no bwnode daemon is running for data dir ${dataDir} (${path} not found); start one with: bwnode start --data ${dataDir}`,
      )
    }
    let file: ApiFile
    try {
      file = JSON.parse(text) as ApiFile
    } catch {
      throw new ConfigError(`${path}: invalid JSON`)
    }
    return new ApiClient(file.url, location.token ?? file.token)
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal)
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, body, signal)
  }

  async delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path, undefined)
  }

  async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = {}
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      })
    } catch (err) {
      if (signal?.aborted) throw err
      throw new BwnodeError(
        'ERR_DAEMON_NOT_RUNNING',
        `cannot reach the bwnode daemon at ${this.url} (is it running?)`,
        { cause: err },
      )
    }
    const text = await response.text()
    let data: unknown
    try {
      data = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      throw new BwnodeError('ERR_API', `daemon sent a non-JSON reply (${response.status})`)
    }
    if (!response.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error
      throw new BwnodeError(error?.code ?? 'ERR_API', error?.message ?? `daemon replied ${response.status}`)
    }
    return data as T
  }
}
