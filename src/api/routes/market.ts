import type { FastifyInstance } from 'fastify'
import { MICROCREDITS_PER_CREDIT } from '../../ledger/constants.ts'
import type { Bwnode } from '../../node/bwnode.ts'

const credits = (micro: number): number => micro / MICROCREDITS_PER_CREDIT

/** Offers, credits and metrics: what the node lends, earns and spends. */
export function registerMarketRoutes(app: FastifyInstance, node: Bwnode): void {
  app.get<{ Querystring: { refresh?: string } }>('/api/offers', async (request) => {
    const ranked = await node.queries.listOffers(request.query.refresh !== 'false')
    return ranked.map(({ offer, estimatedRttMs }) => ({
      peerId: offer.peerId,
      uplinkMbps: offer.uplinkMbps,
      maxConcurrent: offer.maxConcurrent,
      pricePerGiB: offer.pricePerGiB,
      estimatedRttMs: estimatedRttMs === undefined ? null : Number(estimatedRttMs.toFixed(3)),
      coordinate: offer.coordinate,
      addrs: offer.addrs,
      expiresAt: offer.expiresAt,
      lending: offer.lending ?? null,
    }))
  })

  app.get<{ Querystring: { limit?: string } }>('/api/credits', async (request) => {
    const summary = node.ledger.summary()
    const limit = Math.min(1000, Math.max(1, Number(request.query.limit ?? 50) || 50))
    const history = await node.ledger.history(limit)
    return {
      balance: credits(summary.balance),
      earned: credits(summary.earned),
      spent: credits(summary.spent),
      grant: credits(summary.grant),
      peers: summary.peers.map((p) => ({
        peerId: p.peerId,
        earned: credits(p.earned),
        spent: credits(p.spent),
        servedBytes: p.servedBytes,
        paidBytes: p.paidBytes,
        boughtBytes: p.boughtBytes,
        unpaidBytes: p.unpaidBytes,
        rejected: p.rejected,
      })),
      history: history.map((e) => ({ ...e, credits: credits(e.credits) })),
    }
  })

  app.get('/api/credits/verify', async () => node.ledger.verifyAll())

  app.get('/metrics', async (_request, reply) => {
    const text = await node.metrics.registry.metrics()
    await reply.type(node.metrics.registry.contentType).send(text)
  })
}
