import type { FastifyInstance } from 'fastify'
import type { Bwnode } from '../../node/bwnode.ts'

export function registerNodeRoutes(app: FastifyInstance, node: Bwnode): void {
  // Changes nothing: the server's token check runs before it (a POST), so reaching it says the
  // token is right. The dashboard asks it when a token is pasted.
  app.post('/api/token', async () => ({ valid: true }))
  app.get('/api/status', async () => node.queries.status())
  app.get('/api/peers', async () => node.queries.peers())
  app.get('/api/stats/bw', async () => node.queries.bandwidthReport())
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId', async (request) =>
    node.queries.peerDetail(request.params.peerId),
  )
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId/find', async (request) =>
    node.queries.findPeer(request.params.peerId),
  )
  app.get<{ Params: { peerId: string } }>('/api/peers/:peerId/ping', async (request) =>
    node.queries.ping(request.params.peerId),
  )
  app.delete<{ Params: { peerId: string } }>('/api/peers/:peerId/connections', async (request) =>
    node.queries.disconnect(request.params.peerId),
  )
}
