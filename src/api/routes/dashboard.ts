import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { BalancePoint, DashboardSnapshot } from '../../contract/api.ts'
import { MICROCREDITS_PER_CREDIT } from '../../ledger/constants.ts'
import type { LedgerEvent } from '../../ledger/store.ts'
import type { Bwnode } from '../../node/bwnode.ts'
import { DEFAULT_DASHBOARD_HISTORY_EVENTS, DEFAULT_DASHBOARD_OFFER_REFRESH_MS } from '../../node/constants.ts'
import { faviconIco } from './favicon.ts'

const ASSET_DIR = join(import.meta.dirname, '../dashboard')
const resolvePackageFile = createRequire(import.meta.url).resolve

/** The page and its assets, read once: everything the dashboard loads comes from the node. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: join(ASSET_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: join(ASSET_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: join(ASSET_DIR, 'style.css'), type: 'text/css; charset=utf-8' },
  // the charting library (uPlot), from the installed package: no CDN
  '/dashboard/uplot.js': {
    file: resolvePackageFile('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/dashboard/uplot.css': {
    file: resolvePackageFile('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
}

/**
 * Nothing outside the node: no CDN, no inline script, no framing by other
 * sites. The page only reads (GET) from the same origin.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export interface DashboardInit {
  offerRefreshMs?: number
  historyEvents?: number
}

/**
 * The credit balance over time from the newest ledger events (newest first),
 * walking back from today's balance, so it stays right when old events have
 * been pruned. Oldest point first.
 */
export function balanceSeries(currentMicro: number, newestFirst: LedgerEvent[], now: number): BalancePoint[] {
  const points: BalancePoint[] = [{ time: now, balance: currentMicro / MICROCREDITS_PER_CREDIT }]
  let balance = currentMicro
  for (const event of newestFirst) {
    points.push({ time: event.time, balance: balance / MICROCREDITS_PER_CREDIT })
    if (event.kind === 'earn') balance -= event.credits
    else if (event.kind === 'spend') balance += event.credits
  }
  const oldest = newestFirst.at(-1)
  if (oldest !== undefined) points.push({ time: oldest.time - 1, balance: balance / MICROCREDITS_PER_CREDIT })
  return points.reverse()
}

const round = (value: number, digits = 3): number => Number(value.toFixed(digits))

/** Everything the dashboard shows, in one reply, so a poll is one request. */
export async function dashboardSnapshot(node: Bwnode, history: number): Promise<DashboardSnapshot> {
  const now = Date.now()
  const status = node.queries.status()
  const [peers, datasets, events, disk] = await Promise.all([
    node.queries.peers(),
    node.datasets.list(),
    node.ledger.history(history),
    node.store.usage(),
  ])
  const ledger = node.ledger.summary()
  const ledgerPeers = new Map(ledger.peers.map((p) => [p.peerId, p]))
  const servedTotals = node.served.totals()
  const credits = (micro: number): number => micro / MICROCREDITS_PER_CREDIT
  return {
    time: now,
    node: status,
    bandwidth: { since: node.bandwidth.since, ...node.bandwidth.totals(), series: node.bandwidth.history() },
    disk,
    peers: peers.map((peer) => {
      const coordinate = node.offers.coordinateOf(peer.peerId)
      const account = ledgerPeers.get(peer.peerId)
      // The bandwidth meter counts every peer; the metrics' peer label stops at 20 (metrics.ts).
      const bytes = node.bandwidth.peer(peer.peerId)
      return {
        ...peer,
        coordinate: coordinate === undefined ? null : { x: round(coordinate.x), y: round(coordinate.y) },
        servedBytes: bytes?.totalOut ?? 0,
        fetchedBytes: bytes?.totalIn ?? 0,
        earned: credits(account?.earned ?? 0),
        spent: credits(account?.spent ?? 0),
      }
    }),
    datasets: datasets.map((dataset) => {
      const totals = servedTotals.get(dataset.cid)
      return {
        ...dataset,
        servedBytes: totals?.bytes ?? 0,
        servedChunks: totals?.chunks ?? 0,
        lastServedAt: totals?.lastServedAt ?? null,
      }
    }),
    transfers: node.datasets.listTransfers().slice(0, 20),
    credits: {
      balance: credits(ledger.balance),
      earned: credits(ledger.earned),
      spent: credits(ledger.spent),
      grant: credits(ledger.grant),
      series: balanceSeries(ledger.balance, events, now),
    },
    offers: node.offers.list().map(({ offer, estimatedRttMs }) => ({
      peerId: offer.peerId,
      self: offer.peerId === status.peerId,
      uplinkMbps: offer.uplinkMbps,
      maxConcurrent: offer.maxConcurrent,
      pricePerGiB: offer.pricePerGiB,
      estimatedRttMs: estimatedRttMs === undefined ? null : round(estimatedRttMs),
      coordinate: { x: round(offer.coordinate.x), y: round(offer.coordinate.y) },
      expiresAt: offer.expiresAt,
      lending: offer.lending ?? null,
    })),
  }
}

/** GET / (the page), its assets and icon, and GET /api/dashboard (the data it polls). */
export function registerDashboardRoutes(app: FastifyInstance, node: Bwnode, init: DashboardInit = {}): void {
  const offerRefreshMs = init.offerRefreshMs ?? DEFAULT_DASHBOARD_OFFER_REFRESH_MS
  const historyEvents = init.historyEvents ?? DEFAULT_DASHBOARD_HISTORY_EVENTS
  const assets = new Map(
    Object.entries(ASSETS).map(([path, { file, type }]) => [path, { body: readFileSync(file), type }]),
  )
  const sendAsset = async (reply: FastifyReply, path: string): Promise<void> => {
    const asset = assets.get(path)
    if (asset === undefined) throw new Error(`dashboard asset ${path} missing`)
    await reply
      .type(asset.type)
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(asset.body)
  }
  for (const path of assets.keys()) app.get(path, (_request, reply) => sendAsset(reply, path))
  const favicon = faviconIco()
  app.get('/favicon.ico', async (_request, reply) => {
    await reply
      .type('image/x-icon')
      .header('cache-control', 'public, max-age=86400')
      .header('x-content-type-options', 'nosniff')
      .send(favicon)
  })

  // The page polls every second or two; a DHT walk for offers takes longer, so
  // it runs in the background at most every offerRefreshMs.
  let lastOfferRefresh = Number.NEGATIVE_INFINITY
  let refreshing = false
  app.get('/api/dashboard', async () => {
    if (!refreshing && Date.now() - lastOfferRefresh > offerRefreshMs) {
      refreshing = true
      lastOfferRefresh = Date.now()
      void node.queries
        .listOffers(true)
        .catch(() => {})
        .finally(() => {
          refreshing = false
        })
    }
    return dashboardSnapshot(node, historyEvents)
  })
}
