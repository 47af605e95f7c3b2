import { resolve } from 'node:path'
import { type Command, InvalidArgumentError } from 'commander'
import type { DatasetInfo } from '../../contract/api.ts'
import { formatBytes, parseSize, table } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'

function chunkSizeOption(value: string): number {
  try {
    return parseSize(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

export function registerDatasets(program: Command): void {
  daemonCommand(
    program
      .command('add')
      .argument('<path>', 'file or directory to add')
      .description('chunk a file or directory into the store and advertise it; prints the dataset CID')
      .option('--name <name>', 'dataset name (default: the base name of the path)')
      .option('--chunk-size <size>', 'chunk size, 64KiB..4MiB (default 1MiB)', chunkSizeOption),
  ).action(async (path: string, options: DaemonOptions & { name?: string; chunkSize?: number }) => {
    await run(
      options,
      async () => {
        const info = await (await client(options)).post<DatasetInfo>('/api/datasets', {
          path: resolve(path),
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
        })
        return { cid: info.cid, name: info.name, bytes: info.bytes, chunks: info.chunks }
      },
      (info) => info.cid,
    )
  })

  daemonCommand(
    program
      .command('seed')
      .argument('<recipe>', 'seed recipe from seeds/recipes.json (samples, shards, tokens, tiny)')
      .description(
        'generate a deterministic synthetic dataset and add it; the same recipe gives the same CID everywhere',
      )
      .option('--scale <x>', 'scale factor of the recipe (default 1)', Number.parseFloat)
      .option('--chunk-size <size>', 'chunk size, 64KiB..4MiB (default 1MiB)', chunkSizeOption),
  ).action(async (recipe: string, options: DaemonOptions & { scale?: number; chunkSize?: number }) => {
    await run(
      options,
      async () => {
        const info = await (await client(options)).post<DatasetInfo>('/api/seeds', {
          name: recipe,
          ...(options.scale === undefined ? {} : { scale: options.scale }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
        })
        return { cid: info.cid, name: info.name, bytes: info.bytes, chunks: info.chunks }
      },
      (info) => info.cid,
    )
  })

  daemonCommand(program.command('ls').description('list the datasets this node holds')).action(
    async (options: DaemonOptions) => {
      await run(
        options,
        async () => (await client(options)).get<Array<DatasetInfo & { provided: boolean }>>('/api/datasets'),
        (datasets) =>
          datasets.length === 0
            ? 'no datasets yet (bwnode add PATH, or bwnode seed samples)'
            : table([
                ['CID', 'NAME', 'SIZE', 'CHUNKS', 'STATE'],
                ...datasets.map((d) => [
                  d.cid,
                  d.name,
                  formatBytes(d.bytes),
                  String(d.chunks),
                  `${d.complete ? 'complete' : 'partial'}${d.provided ? ', advertised' : ''}`,
                ]),
              ]),
      )
    },
  )

  daemonCommand(
    program
      .command('rm')
      .argument('<cid>', 'dataset CID')
      .description('remove a dataset and stop advertising it'),
  ).action(async (cid: string, options: DaemonOptions) => {
    await run(
      options,
      async () =>
        (await client(options)).delete<{ cid: string; chunksDeleted: number; bytesFreed: number }>(
          `/api/datasets/${encodeURIComponent(cid)}`,
        ),
      (r) => `removed ${r.cid} (${r.chunksDeleted} chunk files, ${formatBytes(r.bytesFreed)} freed)`,
    )
  })
}
