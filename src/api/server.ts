import { timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { API_ERROR_CODES, type ApiErrorCode, ERR, httpStatusOf } from '../errors/codes.ts'
import { BwnodeError, ConfigError, errorCode, errorMessage, explainDiskFull } from '../errors/index.ts'
import { type HostAccess, HostCheck } from './host-check.ts'

/**
 * The local HTTP API used by the CLI and the dashboard. Reads are open to
 * whoever can reach the socket (loopback by default); anything that changes
 * state needs `Authorization: Bearer <token>`, the token kept in <data>/api-token
 * (and copied to api.json). The token can change while the API runs (rotation):
 * the check reads it from a function.
 * Every request must name the API in its Host header, and a browser's Origin
 * on a state-changing one must be the API's own (host-check.ts).
 */

export interface ApiServerInit {
  host: string
  /** Ports to try in order: one that is taken (EADDRINUSE) moves on to the next; 0 = any free port. */
  port: number | number[]
  token?: string
}

export interface ApiServer {
  app: FastifyInstance
  /** The token state changes need now (the daemon updates it when it rotates the token). */
  token: string
  url: string
  /** The port it listens on, and how many of the ports asked for were taken first. */
  port: number
  portsTaken: number
  close(): Promise<void>
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length))
  const wanted = Buffer.from(expected)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

async function refuse(reply: FastifyReply, code: ApiErrorCode, message: string): Promise<void> {
  await reply.code(API_ERROR_CODES[code].status).send({ error: { code, message } })
}

/**
 * `token`: the token, or a function that says what it is now. `access` says which Host names the
 * API answers besides loopback; the default is a loopback API.
 */
export function createApiApp(
  token: string | (() => string),
  access: HostAccess = { bindHost: '127.0.0.1' },
): FastifyInstance {
  const currentToken = typeof token === 'string' ? () => token : token
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
  const hosts = new HostCheck(access)
  // One hook ahead of every route, the dashboard, /metrics and the 404 handler alike.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const local = { address: request.socket.localAddress, port: request.socket.localPort }
    const host = request.headers.host
    if (!hosts.allowsHost(host, local)) {
      await refuse(
        reply,
        ERR.BAD_HOST,
        `this API does not answer to host ${JSON.stringify(host ?? '')}: use the URL in api.json (or add the name to api.allowedHosts)`,
      )
      return
    }
    const changesState = request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS'
    if (!changesState) return
    if (!tokenMatches(currentToken(), request.headers.authorization)) {
      await refuse(reply, ERR.UNAUTHORIZED, 'this call changes state: send the API token')
      return
    }
    // Only a browser sends Origin; a page from another site never gets to change state, token or not.
    if (!hosts.allowsOrigin(request.headers.origin, local)) {
      await refuse(
        reply,
        ERR.BAD_ORIGIN,
        `state changes are refused from origin ${JSON.stringify(request.headers.origin)}`,
      )
    }
  })
  app.setErrorHandler(async (caught, _request, reply) => {
    const error = explainDiskFull(caught) as typeof caught
    const code = error instanceof BwnodeError ? error.code : errorCode(error)
    const validation = (error as { validation?: unknown }).validation !== undefined
    const status = validation
      ? 400
      : (httpStatusOf(code) ?? (error as { statusCode?: number }).statusCode ?? 500)
    await reply
      .code(status)
      .send({ error: { code: validation ? ERR.BAD_REQUEST : code, message: errorMessage(error) } })
  })
  app.setNotFoundHandler(async (request, reply) => {
    await refuse(reply, ERR.NOT_FOUND, `no route ${request.method} ${request.url}`)
  })
  return app
}

export async function listenApi(
  app: FastifyInstance,
  init: ApiServerInit & { token: string },
): Promise<ApiServer> {
  const ports = typeof init.port === 'number' ? [init.port] : init.port
  let portsTaken = 0
  for (const [i, port] of ports.entries()) {
    try {
      await app.listen({ host: init.host, port })
      break
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE' && i < ports.length - 1) {
        portsTaken++
        continue
      }
      throw new ConfigError(`api ${init.host}:${port}: cannot listen (${code ?? errorMessage(err)})`, {
        cause: err,
      })
    }
  }
  const address = app.server.address()
  if (address === null || typeof address === 'string')
    throw new BwnodeError(ERR.API, 'API has no TCP address')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    app,
    token: init.token,
    url: `http://${host}:${address.port}`,
    port: address.port,
    portsTaken,
    close: () => app.close(),
  }
}
