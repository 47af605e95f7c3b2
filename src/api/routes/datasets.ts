import { mkdtemp, rm } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ERR } from '../../errors/codes.ts'
import { BwnodeError } from '../../errors/index.ts'
import type { Bwnode } from '../../node/bwnode.ts'
import { generateSeed } from '../../store/seed.ts'

const addBody = z.strictObject({
  path: z.string().min(1).refine(isAbsolute, 'path must be absolute'),
  name: z.string().min(1).optional(),
  chunkSize: z.number().int().optional(),
  /** Answer at once with an add record (202) and read the files in the background. */
  background: z.boolean().optional(),
})

const seedBody = z.strictObject({
  name: z.string().min(1),
  scale: z.number().positive().max(1000).optional(),
  chunkSize: z.number().int().optional(),
})

const fetchBody = z.strictObject({
  cid: z.string().min(1),
  out: z.string().min(1).refine(isAbsolute, 'out must be absolute').optional(),
  seed: z.boolean().optional(),
  maxProviders: z.number().int().min(1).max(64).optional(),
  localityBias: z.number().min(0).max(100).optional(),
  paths: z.array(z.string().min(1).max(4096)).min(1).max(10_000).optional(),
})

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {})
  if (!result.success) {
    const issue = result.error.issues[0]
    const field = issue?.path.join('.') ?? ''
    throw new BwnodeError(ERR.BAD_REQUEST, `${field ? `${field}: ` : ''}${issue?.message ?? 'invalid body'}`)
  }
  return result.data
}

export function registerDatasetRoutes(app: FastifyInstance, node: Bwnode): void {
  app.get('/api/datasets', async () =>
    (await node.datasets.list()).map((dataset) => ({
      ...dataset,
      servedBytes: node.served.bytesFor(dataset.cid),
    })),
  )

  app.post('/api/datasets', async (request, reply) => {
    const body = parseBody(addBody, request.body)
    const options = {
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(body.chunkSize === undefined ? {} : { chunkSize: body.chunkSize }),
    }
    if (body.background === true) return reply.code(202).send(node.datasets.startAdd(body.path, options))
    return node.datasets.add(body.path, options)
  })
  app.get('/api/adds', async () => node.datasets.listAdds())
  app.get<{ Params: { id: string } }>('/api/adds/:id', async (request) =>
    node.datasets.addJob(request.params.id),
  )

  // One file's bytes, in order (`bwnode cat`): every check is made before the first byte is sent.
  app.get<{ Params: { cid: string }; Querystring: { path?: string } }>(
    '/api/datasets/:cid/file',
    async (request, reply) => {
      const path = request.query.path
      if (path === undefined || path === '') {
        throw new BwnodeError(ERR.BAD_REQUEST, 'path: the file of the dataset to read (?path=dir/name)')
      }
      const file = await node.datasets.store.openFile(request.params.cid, path)
      return reply
        .type('application/octet-stream')
        .header('content-length', String(file.size))
        .send(Readable.from(file.chunks()))
    },
  )

  app.delete<{ Params: { cid: string } }>('/api/datasets/:cid', async (request) =>
    node.datasets.remove(request.params.cid),
  )

  app.post('/api/seeds', async (request) => {
    const body = parseBody(seedBody, request.body)
    // Generated into a scratch dir inside the data dir, added, then removed: the
    // store keeps its own copy of the bytes as chunk files.
    const scratch = await mkdtemp(join(node.dataDir, 'seed-'))
    try {
      const path = await generateSeed(
        body.name,
        scratch,
        body.scale === undefined ? {} : { scale: body.scale },
      )
      return await node.datasets.add(path, {
        name: body.name,
        ...(body.chunkSize === undefined ? {} : { chunkSize: body.chunkSize }),
      })
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
  })

  app.post('/api/fetch', async (request) => {
    const body = parseBody(fetchBody, request.body)
    return node.datasets.startFetch(body.cid, {
      ...(body.out === undefined ? {} : { out: body.out }),
      ...(body.seed === undefined ? {} : { seed: body.seed }),
      ...(body.maxProviders === undefined ? {} : { maxProviders: body.maxProviders }),
      ...(body.localityBias === undefined ? {} : { localityBias: body.localityBias }),
      ...(body.paths === undefined ? {} : { paths: body.paths }),
    })
  })

  app.get('/api/transfers', async () => node.datasets.listTransfers())
  app.get<{ Params: { id: string } }>('/api/transfers/:id', async (request) =>
    node.datasets.transfer(request.params.id),
  )
  app.delete<{ Params: { id: string } }>('/api/transfers/:id', async (request) =>
    node.datasets.cancel(request.params.id),
  )
}
