import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { ApiClient } from '../../client/api-client.ts'
import type { DatasetInfo, NodeStatus, TransferInfo } from '../../contract/api.ts'
import { ERR, relayedCode } from '../../errors/codes.ts'
import { BwnodeError } from '../../errors/index.ts'
import { formatBytes, plural, table } from '../../util/format.ts'
import { client, collect, type DaemonOptions, daemonCommand, parseDecimal, parseInteger } from '../common.ts'
import { EXIT_SIGINT, emit } from '../output.ts'
import {
  createProgress,
  followJob,
  type ProgressMode,
  type ProgressSnapshot,
  progressOption,
} from '../progress.ts'

/**
 * With no peer connected a fetch can only finish from what is stored here: say so at once
 * instead of letting the DHT walk run into its timeout.
 */
async function refuseWithoutPeers(api: ApiClient, cid: string): Promise<void> {
  // A mistyped CID is said as such (the daemon's own check), not as a lack of peers.
  ;(await import('../../store/cid.ts')).parseDatasetCid(cid)
  const status = await api.get<NodeStatus>('/api/status')
  if (status.connectedPeers > 0) return
  const datasets = await api.get<DatasetInfo[]>('/api/datasets')
  if (datasets.some((d) => d.cid === cid && d.complete)) return
  throw new BwnodeError(
    ERR.NO_PEERS,
    `0 peers connected, so no provider of ${cid} can be found; ` +
      'start the daemon with --bootstrap /ip4/.../tcp/.../p2p/<id> (or BWNODE_BOOTSTRAP, or mdns on a LAN) and retry',
  )
}

/** A transfer's progress as the progress display reads it; null before the manifest is in. */
export function fetchSnapshot(p: TransferInfo['progress']): ProgressSnapshot {
  if (p === null) return { doneBytes: 0, totalBytes: null, bytesPerSec: 0, detail: 'finding providers' }
  return {
    doneBytes: p.doneBytes,
    totalBytes: p.totalBytes,
    bytesPerSec: p.bytesPerSec,
    detail: plural(p.activeProviders, 'peer'),
    fields: {
      cid: p.cid,
      name: p.name,
      doneChunks: p.doneChunks,
      totalChunks: p.totalChunks,
      resumedChunks: p.resumedChunks,
      activeProviders: p.activeProviders,
    },
  }
}

interface FetchCliOptions extends DaemonOptions {
  progress: ProgressMode
  out?: string
  /** Only these files or folders of the dataset (`--path`, repeatable; `get`'s arguments). */
  path?: string[]
  seed: boolean
  maxProviders?: number
  localityBias?: number
}

/** The options `fetch` and `get` share. */
function fetchOptions(command: Command): Command {
  return command
    .option('--no-seed', 'do not advertise the dataset after fetching it')
    .option('--max-providers <n>', 'providers to pull from at once', parseInteger('--max-providers', 1, 64))
    .option(
      '--locality-bias <x>',
      'keep bytes on near providers at some cost in time (0 = fastest; default 1)',
      parseDecimal('--locality-bias', 0, 100),
    )
    .addOption(progressOption())
}

export function registerFetch(program: Command): void {
  daemonCommand(
    fetchOptions(
      program
        .command('fetch')
        .argument('<cid>', 'dataset CID')
        .description('fetch a dataset from its providers, verified, several at once; resumable')
        .option('--out <path>', 'write the dataset files here (must not exist)')
        .option('--path <path>', 'fetch only this file or folder of the dataset (repeatable)', collect),
    ),
  ).action((cid: string, options: FetchCliOptions) => runFetch(cid, options))

  daemonCommand(
    fetchOptions(
      program
        .command('get')
        .argument('<cid>', 'dataset CID')
        .argument('[paths...]', 'only these files or folders of the dataset (default: all of it)')
        .description('fetch a dataset, or some of its files, and write them to a folder')
        .option('--out <dir>', 'the folder to write (must not exist; default ./CID)'),
    ),
  ).action((cid: string, paths: string[], options: FetchCliOptions) =>
    runFetch(cid, { ...options, out: options.out ?? cid, ...(paths.length > 0 ? { path: paths } : {}) }),
  )
}

async function runFetch(cid: string, options: FetchCliOptions): Promise<void> {
  const json = options.json === true
  let interrupted = false
  const progress = await createProgress({
    mode: options.progress,
    json,
    command: 'fetch',
    subject: cid,
  })
  try {
    const api = await client(options)
    const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout * 1000
    await refuseWithoutPeers(api, cid)
    // Ctrl-C cancels the transfer; verified chunks stay, so a rerun resumes. The handler is in
    // place before the transfer starts: a Ctrl-C while the request is on its way must not kill
    // the CLI and leave the transfer running.
    let cancel: (() => Promise<unknown>) | undefined
    const onSigint = (): void => {
      interrupted = true
      void cancel?.()
    }
    process.once('SIGINT', onSigint)
    const transfer = await api.post<TransferInfo>('/api/fetch', {
      cid,
      seed: options.seed,
      ...(options.out === undefined ? {} : { out: resolve(options.out) }),
      ...(options.path === undefined ? {} : { paths: options.path }),
      ...(options.maxProviders === undefined ? {} : { maxProviders: options.maxProviders }),
      ...(options.localityBias === undefined ? {} : { localityBias: options.localityBias }),
    })
    const cancelTransfer = (): Promise<unknown> => api.delete(`/api/transfers/${transfer.id}`).catch(() => {})
    cancel = cancelTransfer
    if (interrupted) await cancelTransfer()
    const { job: info, last } = await followJob(
      transfer,
      () => api.get<TransferInfo>(`/api/transfers/${transfer.id}`),
      {
        progress,
        snapshot: (t) => fetchSnapshot(t.progress),
        check: async () => {
          if (deadline === undefined || Date.now() < deadline) return
          await cancelTransfer()
          process.removeListener('SIGINT', onSigint)
          throw new BwnodeError(
            ERR.TIMEOUT,
            `fetch of ${cid} did not finish within ${options.timeout} s (--timeout) and was cancelled; ` +
              'the verified chunks are kept, so a rerun resumes',
          )
        },
      },
    )
    process.removeListener('SIGINT', onSigint)
    if (info.state !== 'done' || info.result === null) {
      const error = info.error ?? { code: ERR.FETCH, message: `fetch ${info.state}` }
      throw new BwnodeError(interrupted ? ERR.CANCELLED : relayedCode(error.code), error.message)
    }
    const result = info.result
    const summary = {
      cid: result.cid,
      name: result.name,
      bytes: result.bytes,
      complete: result.complete,
      ...(result.paths === undefined ? {} : { paths: result.paths }),
      fetchedBytes: result.fetchedBytes,
      seconds: result.seconds,
      resumedChunks: result.resumedChunks,
      out: result.out,
      providers: result.providers,
      ranking: result.ranking,
      localityBias: result.localityBias,
      localitySuspended: result.localitySuspended,
    }
    progress.done(last, summary)
    emit(options, summary, (r) =>
      [
        `fetched ${r.paths === undefined ? '' : `${r.paths.join(', ')} of `}${r.name} (${r.cid}): ` +
          `${formatBytes(r.bytes)} in ${r.seconds.toFixed(2)} s` +
          (r.resumedChunks > 0 ? `, ${r.resumedChunks} chunks already here` : ''),
        r.complete ? '' : 'the rest of the dataset is not here, so this node does not advertise it',
        r.out === null ? '' : `written to ${r.out}`,
        r.providers.length === 0
          ? ''
          : table([
              ['PROVIDER', 'BYTES', 'RTT ms', 'MB/s', 'WINDOW', 'SHARE', 'NOTE'],
              ...r.providers.map((p) => [
                p.peerId,
                formatBytes(p.bytes),
                p.rttMs === null ? '-' : p.rttMs.toFixed(1),
                p.rateMBps === null ? '-' : p.rateMBps.toFixed(1),
                String(p.window),
                p.localityShare === null || r.localityBias === 0
                  ? '-'
                  : `${(p.localityShare * 100).toFixed(0)}% (x${p.localityPremium?.toFixed(2)})`,
                [
                  p.duplicateBytes > 0 ? `+${formatBytes(p.duplicateBytes)} endgame copies` : '',
                  p.dropped ?? '',
                ]
                  .filter((note) => note.length > 0)
                  .join('; '),
              ]),
            ]),
      ]
        .filter((line) => line.length > 0)
        .join('\n'),
    )
  } catch (err) {
    const code = progress.fail(err, json)
    process.exitCode = interrupted ? EXIT_SIGINT : code
  }
}
