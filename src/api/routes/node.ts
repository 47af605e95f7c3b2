import type { FastifyInstance } from 'fastify'
import type { Bwnode } from '../../node/bwnode.ts'

export function registerNodeRoutes(app: FastifyInstance, node: Bwnode): void {
  app.get('/api/status', async () => node.status())
  app.get('/api/peers', async () => node.peers())
  app.get('/api/stats/bw', async () => node.bandwidthReport())
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId', async (request) =>
    node.peerDetail(request.params.peerId),
  )
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId/find', async (request) =>
    node.findPeer(request.params.peerId),
  )
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId/ping', async (request) =>
    node.ping(request.params.peerId),
  )
}
