/**
 * The API's port when the config names none: chosen once per data dir and remembered in
 * `<data>/api-port`, so a restarted daemon answers where its clients (a firewall rule, a script,
 * `--api URL` on another machine) expect it. A remembered port that is taken gives way, for that
 * run, to any free port; the file keeps the remembered one.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../errors/index.ts'
import { readTextIfExists } from '../util/fs.ts'

export const API_PORT_FILE = 'api-port'

/**
 * Where a first port is drawn from: below Linux's ephemeral range (32768-60999), so the
 * machine's own outgoing connections do not take it between restarts.
 */
export const FIRST_PORT_RANGE = { min: 20_000, max: 32_767 } as const

/** Ports drawn for a first choice before any free port (0) is taken. */
const FIRST_TRIES = 8

export interface ApiPortPlan {
  /** To try in order; 0 = any free port. */
  ports: number[]
  /** The port remembered in the data dir, if that is what the plan starts with. */
  remembered?: number
  /** Write the port listened on to the data dir (a first choice). */
  remember: boolean
}

async function rememberedPort(dataDir: string): Promise<number | undefined> {
  const path = join(dataDir, API_PORT_FILE)
  const text = await readTextIfExists(path)
  if (text === undefined) return undefined
  const port = Number(text.trim())
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ConfigError(
      `${path}: not a port (1..65535): ${JSON.stringify(text.trim())}; delete it to choose anew`,
    )
  }
  return port
}

/** `configured`: config api.port (--api-port, BWNODE_API_PORT); used as it is when given (0 = any free port, not remembered). */
export async function apiPortPlan(
  dataDir: string,
  configured: number | undefined,
  random: () => number = Math.random,
): Promise<ApiPortPlan> {
  if (configured !== undefined) return { ports: [configured], remember: false }
  const remembered = await rememberedPort(dataDir)
  if (remembered !== undefined) return { ports: [remembered, 0], remembered, remember: false }
  const ports = new Set<number>()
  const span = FIRST_PORT_RANGE.max - FIRST_PORT_RANGE.min + 1
  for (let draw = 0; draw < 4 * FIRST_TRIES && ports.size < FIRST_TRIES; draw++) {
    ports.add(FIRST_PORT_RANGE.min + Math.floor(random() * span))
  }
  return { ports: [...ports, 0], remember: true }
}

export async function rememberApiPort(dataDir: string, port: number): Promise<void> {
  await writeFile(join(dataDir, API_PORT_FILE), `${port}\n`)
}
