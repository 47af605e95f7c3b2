/**
 * The daemon: one Bwnode and the HTTP API in front of it, wired together, and `<data>/api.json`
 * written for the CLI. Its own module above node/ and api/, so neither imports the other's runtime.
 * It keeps the API's token (`<data>/api-token`) and, unless the config names a port, its port
 * (`<data>/api-port`) across restarts.
 */
import { chmod, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { registerAdminRoutes } from '../api/routes/admin.ts'
import { registerDashboardRoutes } from '../api/routes/dashboard.ts'
import { registerDatasetRoutes } from '../api/routes/datasets.ts'
import { registerMarketRoutes } from '../api/routes/market.ts'
import { registerNodeRoutes } from '../api/routes/node.ts'
import { type ApiServer, createApiApp, listenApi } from '../api/server.ts'
import type { BwnodeConfig } from '../config/schema.ts'
import { API_FILE, API_TOKEN_FILE, type ApiFile } from '../contract/api.ts'
import { Bwnode } from '../node/bwnode.ts'
import { readOrCreateToken, writeNewToken } from '../util/secret-file.ts'
import { API_PORT_FILE, apiPortPlan, rememberApiPort } from './api-port.ts'

const log = logger('bwnode:daemon')

export interface RunningDaemon {
  node: Bwnode
  api: ApiServer
  readyLine: string
  stop(): Promise<void>
}

export interface DaemonHooks {
  /** Things worth telling the operator (a remembered port that was taken). */
  notice?: (message: string) => void
  /** POST /api/shutdown was asked: the default stops the daemon (`stop()`). */
  onShutdownRequest?: () => void
}

export async function startDaemon(config: BwnodeConfig, hooks: DaemonHooks = {}): Promise<RunningDaemon> {
  const node = await Bwnode.create(config)
  // One node in this process: its /metrics may describe the process too.
  node.metrics.collectProcessMetrics()
  await node.start()
  let api: ApiServer
  let stop: () => Promise<void> = () => node.stop()
  const apiFile = join(node.dataDir, API_FILE)
  try {
    const tokenFile = join(node.dataDir, API_TOKEN_FILE)
    let { token } = await readOrCreateToken(tokenFile)
    const app = createApiApp(() => token, {
      bindHost: config.api.host,
      allowedHosts: config.api.allowedHosts,
    })
    registerNodeRoutes(app, node)
    registerDatasetRoutes(app, node)
    registerMarketRoutes(app, node)
    registerDashboardRoutes(app, node)
    registerAdminRoutes(app, {
      peerId: node.peerId.toString(),
      rotateToken: async () => {
        token = await writeNewToken(tokenFile)
        api.token = token
        await writeApiFile()
        return token
      },
      shutdown: () => (hooks.onShutdownRequest ?? (() => void stop()))(),
    })
    const plan = await apiPortPlan(node.dataDir, config.api.port)
    api = await listenApi(app, { host: config.api.host, port: plan.ports, token })
    if (plan.remembered !== undefined && api.portsTaken > 0) {
      hooks.notice?.(
        `API port ${plan.remembered} (remembered in ${join(node.dataDir, API_PORT_FILE)}) is taken; ` +
          `this run listens on ${api.port} and the remembered port stays ${plan.remembered} ` +
          '(set api.port or --api-port to choose another)',
      )
    }
    if (plan.remember) await rememberApiPort(node.dataDir, api.port)
    log('API on %s (%s port; token in %s)', api.url, plan.remember ? 'new' : 'kept', tokenFile)
  } catch (err) {
    await node.stop()
    throw err
  }
  async function writeApiFile(): Promise<void> {
    const contents: ApiFile = { url: api.url, token: api.token, peerId: node.peerId.toString() }
    await writeFile(apiFile, JSON.stringify(contents, null, 2), { mode: 0o600 })
    await chmod(apiFile, 0o600)
  }
  await writeApiFile()

  let stopping: Promise<void> | undefined
  stop = (): Promise<void> => {
    // api.json goes last: while it is there the data dir is not free yet (`bwnode shutdown --data`
    // waits for it to go).
    stopping ??= (async () => {
      try {
        await api.close()
        await node.stop()
      } finally {
        await rm(apiFile, { force: true })
      }
    })()
    return stopping
  }
  const listen = node.queries.status().multiaddrs.join(',')
  return {
    node,
    api,
    readyLine: `bwnode ready ${node.peerId.toString()} api=${api.url} listen=${listen}`,
    stop: () => stop(),
  }
}
