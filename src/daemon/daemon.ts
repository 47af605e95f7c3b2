/**
 * The daemon: one Bwnode and the HTTP API in front of it, wired together, and `<data>/api.json`
 * written for the CLI. Its own module above node/ and api/, so neither imports the other's runtime.
 */
import { chmod, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { registerDashboardRoutes } from '../api/routes/dashboard.ts'
import { registerDatasetRoutes } from '../api/routes/datasets.ts'
import { registerMarketRoutes } from '../api/routes/market.ts'
import { registerNodeRoutes } from '../api/routes/node.ts'
import { type ApiServer, createApiApp, listenApi, newApiToken } from '../api/server.ts'
import type { BwnodeConfig } from '../config/schema.ts'
import { API_FILE, type ApiFile } from '../contract/api.ts'
import { Bwnode } from '../node/bwnode.ts'

export interface RunningDaemon {
  node: Bwnode
  api: ApiServer
  readyLine: string
  stop(): Promise<void>
}

export async function startDaemon(config: BwnodeConfig): Promise<RunningDaemon> {
  const node = await Bwnode.create(config)
  // One node in this process: its /metrics may describe the process too.
  node.metrics.collectProcessMetrics()
  await node.start()
  const token = newApiToken()
  const app = createApiApp(token, { bindHost: config.api.host, allowedHosts: config.api.allowedHosts })
  registerNodeRoutes(app, node)
  registerDatasetRoutes(app, node)
  registerMarketRoutes(app, node)
  registerDashboardRoutes(app, node)
  let api: ApiServer
  try {
    api = await listenApi(app, { host: config.api.host, port: config.api.port, token })
  } catch (err) {
    await node.stop()
    throw err
  }
  const apiFile = join(node.dataDir, API_FILE)
  const contents: ApiFile = { url: api.url, token, peerId: node.peerId.toString() }
  await writeFile(apiFile, JSON.stringify(contents, null, 2), { mode: 0o600 })
  await chmod(apiFile, 0o600)

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await rm(apiFile, { force: true })
      await api.close()
      await node.stop()
    })()
    return stopping
  }
  const listen = node.status().multiaddrs.join(',')
  return {
    node,
    api,
    readyLine: `bwnode ready ${node.peerId.toString()} api=${api.url} listen=${listen}`,
    stop,
  }
}
