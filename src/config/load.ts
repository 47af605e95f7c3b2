import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { z } from 'zod'
import { ConfigError } from '../errors/index.ts'
import { isLoopbackHost } from './loopback.ts'
import { type BwnodeConfig, type ConfigInput, configSchema } from './schema.ts'

/**
 * Config precedence, lowest first: schema defaults < config file < environment
 * (BWNODE_*: the few things that differ per machine) < command-line flags.
 */

export interface ConfigOverrides {
  dataDir?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  apiPort?: number
  /** offer.uplinkMbps for this run (`start --uplink`). */
  uplinkMbps?: number
}

/** Env vars a machine sets instead of editing the shared config file. */
export const ENV_OVERRIDES = {
  BWNODE_DATA: 'dataDir',
  BWNODE_LISTEN: 'listen (comma-separated)',
  BWNODE_ANNOUNCE: 'announce (comma-separated)',
  BWNODE_BOOTSTRAP: 'bootstrap (comma-separated)',
  BWNODE_API_PORT: 'api.port',
} as const

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

export function overridesFromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const overrides: ConfigOverrides = {}
  if (env.BWNODE_DATA) overrides.dataDir = env.BWNODE_DATA
  if (env.BWNODE_LISTEN) overrides.listen = splitList(env.BWNODE_LISTEN)
  if (env.BWNODE_ANNOUNCE) overrides.announce = splitList(env.BWNODE_ANNOUNCE)
  if (env.BWNODE_BOOTSTRAP) overrides.bootstrap = splitList(env.BWNODE_BOOTSTRAP)
  if (env.BWNODE_API_PORT) {
    const port = Number(env.BWNODE_API_PORT)
    if (!Number.isInteger(port))
      throw new ConfigError(`BWNODE_API_PORT: not an integer: ${env.BWNODE_API_PORT}`)
    overrides.apiPort = port
  }
  return overrides
}

function applyOverrides(input: Record<string, unknown>, overrides: ConfigOverrides): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...input }
  if (overrides.dataDir !== undefined) merged.dataDir = overrides.dataDir
  if (overrides.listen !== undefined) merged.listen = overrides.listen
  if (overrides.announce !== undefined) merged.announce = overrides.announce
  if (overrides.bootstrap !== undefined) merged.bootstrap = overrides.bootstrap
  if (overrides.apiPort !== undefined) {
    const api = typeof input.api === 'object' && input.api !== null ? input.api : {}
    merged.api = { ...api, port: overrides.apiPort }
  }
  if (overrides.uplinkMbps !== undefined) {
    const offer = typeof input.offer === 'object' && input.offer !== null ? input.offer : {}
    merged.offer = { ...offer, uplinkMbps: overrides.uplinkMbps }
  }
  return merged
}

/** One line per problem, naming the field: `api.port: expected number, received string`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : ''
        return `unknown field ${issue.keys.map((key) => prefix + key).join(', ')}`
      }
      return `${field}: ${issue.message}`
    })
    .join('; ')
}

export function parseConfig(input: unknown, source: string, overrides: ConfigOverrides = {}): BwnodeConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(`${source}: the config must be a JSON object`)
  }
  const result = configSchema.safeParse(applyOverrides(input as Record<string, unknown>, overrides))
  if (!result.success) throw new ConfigError(`${source}: ${describeIssues(result.error)}`)
  const config = result.data
  if (!config.api.allowRemote && !isLoopbackHost(config.api.host)) {
    throw new ConfigError(
      `${source}: api.host ${config.api.host} is not loopback; set api.allowRemote to true to expose the API`,
    )
  }
  return config
}

export { isLoopbackHost }

export async function loadConfig(
  file: string | undefined,
  overrides: ConfigOverrides = {},
): Promise<BwnodeConfig> {
  if (file === undefined) return parseConfig({} satisfies ConfigInput, 'built-in defaults', overrides)
  const path = resolve(file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? String(err)})`
    throw new ConfigError(`${file}: ${reason}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${file}: invalid JSON (${(err as Error).message})`)
  }
  return parseConfig(withDataDirBesideFile(json, path, overrides), file, overrides)
}

/**
 * A relative dataDir written in a config file means beside that file (as a service's unit or a
 * compose file expects, whatever the working directory); one given by --data, BWNODE_DATA or the
 * default stays relative to the working directory, as typed.
 */
function withDataDirBesideFile(json: unknown, path: string, overrides: ConfigOverrides): unknown {
  if (overrides.dataDir !== undefined || typeof json !== 'object' || json === null || Array.isArray(json))
    return json
  const dataDir = (json as { dataDir?: unknown }).dataDir
  if (typeof dataDir !== 'string' || dataDir === '' || isAbsolute(dataDir)) return json
  return { ...json, dataDir: resolve(dirname(path), dataDir) }
}
