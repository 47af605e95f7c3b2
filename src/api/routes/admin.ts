import type { FastifyInstance } from 'fastify'

/** What the daemon does for these routes: the API server owns no token file and no process. */
export interface AdminActions {
  /** Makes, keeps and starts using a new token; returns it. */
  rotateToken(): Promise<string>
  /** Stops the daemon gracefully; called once the reply has been sent. */
  shutdown(): void
  peerId: string
}

/** Token rotation and shutdown: state changes, so the token check in front of every route applies. */
export function registerAdminRoutes(app: FastifyInstance, actions: AdminActions): void {
  app.post('/api/token/rotate', async () => ({ token: await actions.rotateToken() }))
  app.post('/api/shutdown', async (_request, reply) => {
    // Only once this handler runs (past the token check) and its reply is out. Not a route
    // `onResponse` hook: that runs for the 401 of a refused request too.
    reply.raw.once('finish', () => actions.shutdown())
    return { stopping: true, peerId: actions.peerId }
  })
}
