import { randomBytes, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { BwnodeError, ConfigError, errorCode, errorMessage, explainDiskFull } from '../errors/index.ts'

/**
 * The local HTTP API used by the CLI and the dashboard. Reads are open to
 * whoever can reach the socket (loopback by default); anything that changes
 * state needs `Authorization: Bearer <token>`, the token written to api.json.
 */

export interface ApiServerInit {
  host: string
  port: number
  token?: string
}

export interface ApiServer {
  app: FastifyInstance
  token: string
  url: string
  close(): Promise<void>
}

/** Map error codes to HTTP status; everything else is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_BAD_PEER_ID: 400,
  ERR_BAD_REQUEST: 400,
  ERR_USAGE: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_DATASET_NOT_FOUND: 404,
  ERR_FETCH_RUNNING: 409,
  ERR_INVALID_CHUNK_SIZE: 400,
  ERR_INVALID_CID: 400,
  ERR_UNKNOWN_SEED: 400,
  ERR_UNKNOWN_DATASET: 404,
  ERR_OUT_EXISTS: 409,
  ERR_INSUFFICIENT_CREDITS: 402,
  ERR_NO_PROVIDERS: 404,
  ERR_DISK_FULL: 507,
}

export function newApiToken(): string {
  return randomBytes(24).toString('hex')
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length))
  const wanted = Buffer.from(expected)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

export function createApiApp(token: string): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const changesState = request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS'
    if (changesState && !tokenMatches(token, request.headers.authorization)) {
      await reply
        .code(401)
        .send({ error: { code: 'ERR_UNAUTHORIZED', message: 'this call changes state: send the API token' } })
    }
  })
  app.setErrorHandler(async (caught, _request, reply) => {
    const error = explainDiskFull(caught) as typeof caught
    const code = error instanceof BwnodeError ? error.code : errorCode(error)
    const validation = (error as { validation?: unknown }).validation !== undefined
    const status = validation
      ? 400
      : (STATUS_BY_CODE[code] ?? (error as { statusCode?: number }).statusCode ?? 500)
    await reply
      .code(status)
      .send({ error: { code: validation ? 'ERR_BAD_REQUEST' : code, message: errorMessage(error) } })
  })
  app.setNotFoundHandler(async (request, reply) => {
    await reply
      .code(404)
      .send({ error: { code: 'ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}` } })
  })
  return app
}

export async function listenApi(
  app: FastifyInstance,
  init: ApiServerInit & { token: string },
): Promise<ApiServer> {
  try {
    await app.listen({ host: init.host, port: init.port })
  } catch (err) {
    throw new ConfigError(
      `api ${init.host}:${init.port}: cannot listen (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`,
    )
  }
  const address = app.server.address()
  if (address === null || typeof address === 'string')
    throw new BwnodeError('ERR_API', 'API has no TCP address')
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return { app, token: init.token, url: `http://${host}:${address.port}`, close: () => app.close() }
}
