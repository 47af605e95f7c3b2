import { resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { type Command, InvalidArgumentError } from 'commander'
import { type AddJobInfo, type DatasetInfo, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../contract/api.ts'
import { ERR, relayedCode } from '../../errors/codes.ts'
import { BwnodeError } from '../../errors/index.ts'
import { formatBytes, parseSize, plural, table } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'
import { EXIT_SIGINT, emit, reportError } from '../output.ts'
import {
  createProgress,
  followJob,
  type ProgressMode,
  type ProgressSnapshot,
  progressOption,
} from '../progress.ts'

function chunkSizeOption(value: string): number {
  let size: number
  try {
    size = parseSize(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  // Out of range is a usage error like any other, said before the daemon is asked.
  if (size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE) {
    throw new InvalidArgumentError(`chunk size must be from 64KiB to 4MiB, got ${value} (${size} bytes)`)
  }
  return size
}

/** An add's progress as the progress display reads it; null while it waits for the store. */
export function addSnapshot(p: AddJobInfo['progress']): ProgressSnapshot {
  if (p === null) return { doneBytes: 0, totalBytes: null, bytesPerSec: 0, detail: 'waiting for the store' }
  return {
    doneBytes: p.doneBytes,
    totalBytes: p.totalBytes,
    bytesPerSec: p.bytesPerSec,
    detail: `${p.doneFiles} of ${plural(p.totalFiles, 'file')}`,
    fields: { name: p.name, doneFiles: p.doneFiles, totalFiles: p.totalFiles },
  }
}

interface AddCliOptions extends DaemonOptions {
  name?: string
  chunkSize?: number
  progress: ProgressMode
}

export function registerDatasets(program: Command): void {
  daemonCommand(
    program
      .command('add')
      .argument('<path>', 'file or directory to add')
      .description('chunk a file or directory into the store and advertise it; prints the dataset CID')
      .option('--name <name>', 'dataset name (default: the base name of the path)')
      .option('--chunk-size <size>', 'chunk size, 64KiB..4MiB (default 1MiB)', chunkSizeOption)
      .addOption(progressOption()),
  ).action(async (path: string, options: AddCliOptions) => {
    const json = options.json === true
    const progress = await createProgress({ mode: options.progress, json, command: 'add', subject: path })
    let interrupted = false
    const onSigint = (): void => {
      interrupted = true
    }
    process.once('SIGINT', onSigint)
    try {
      const api = await client(options)
      const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout * 1000
      const started = await api.post<AddJobInfo>('/api/datasets', {
        path: resolve(path),
        background: true,
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      })
      const { job, last } = await followJob(started, () => api.get<AddJobInfo>(`/api/adds/${started.id}`), {
        progress,
        snapshot: (j) => addSnapshot(j.progress),
        check: async () => {
          // The store cannot stop an add half-way (its chunks would be left unindexed): the daemon
          // finishes it, and `bwnode ls` shows the dataset then.
          const goesOn = 'the add goes on in the daemon; bwnode ls shows the dataset when it is done'
          if (interrupted) throw new BwnodeError(ERR.INTERRUPTED, `interrupted; ${goesOn}`)
          if (deadline !== undefined && Date.now() >= deadline)
            throw new BwnodeError(
              ERR.TIMEOUT,
              `add of ${path} did not finish within ${options.timeout} s (--timeout); ${goesOn}`,
            )
        },
      })
      if (job.state !== 'done' || job.result === null) {
        const error = job.error ?? { code: ERR.ADD, message: `add ${job.state}` }
        throw new BwnodeError(relayedCode(error.code), error.message)
      }
      const info = job.result
      const summary = { cid: info.cid, name: info.name, bytes: info.bytes, chunks: info.chunks }
      progress.done(last, summary)
      emit(options, summary, (r) => r.cid)
    } catch (err) {
      const code = progress.fail(err, json)
      process.exitCode = interrupted ? EXIT_SIGINT : code
    } finally {
      process.removeListener('SIGINT', onSigint)
    }
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
      .command('cat')
      .argument('<cid>', 'dataset CID')
      .argument('<path>', 'a file of the dataset, as `ls` of its manifest names it (dir/name)')
      .description('write one file of a dataset held here to stdout, each chunk re-hashed as it is read'),
  ).action(async (cid: string, path: string, options: DaemonOptions) => {
    try {
      const body = await (await client(options)).download(
        `/api/datasets/${encodeURIComponent(cid)}/file?path=${encodeURIComponent(path)}`,
      )
      await pipeline(Readable.fromWeb(body as WebReadableStream), process.stdout)
    } catch (err) {
      // A reader that stops early (`| head`) is not an error of ours.
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return
      process.exitCode = reportError(err, options.json === true)
    }
  })

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
