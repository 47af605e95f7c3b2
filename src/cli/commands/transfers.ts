import type { Command } from 'commander'
import type { TransferInfo } from '../../contract/api.ts'
import { formatBytes, formatDuration, formatRate, table } from '../../util/format.ts'
import { waitFor } from '../../util/poll.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'

/** How long `transfers cancel` waits to see the fetch stop, ms. */
const CANCEL_WAIT_MS = 10_000

/** What a transfer has moved: its progress while it runs, its result once it ended. */
function movedText(t: TransferInfo): string {
  if (t.result !== null) return `${formatBytes(t.result.bytes)} in ${formatDuration(t.result.seconds)}`
  if (t.progress === null) return '-'
  const p = t.progress
  return `${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)}, ${formatRate(p.bytesPerSec)}, ${p.activeProviders} provider(s)`
}

export function transfersText(transfers: TransferInfo[], now = Date.now()): string {
  if (transfers.length === 0) return 'no fetches since the daemon started (bwnode fetch CID)'
  return table([
    ['ID', 'CID', 'STATE', 'STARTED', 'MOVED', 'ERROR'],
    ...transfers.map((t) => [
      t.id,
      t.cid,
      t.state,
      `${formatDuration((now - t.startedAt) / 1000)} ago`,
      movedText(t),
      t.error === null ? '-' : `${t.error.code}: ${t.error.message}`,
    ]),
  ])
}

/** `bwnode transfers`: the daemon's fetches (running and recent), and cancelling one. */
export function registerTransfers(program: Command): void {
  const transfers = daemonCommand(
    program.command('transfers').description("the daemon's fetches, running and recent; cancel one"),
  ).action(async (options: DaemonOptions) => {
    await run(
      options,
      async () => (await client(options)).get<TransferInfo[]>('/api/transfers'),
      (list) => transfersText(list),
    )
  })
  daemonCommand(
    transfers
      .command('cancel')
      .argument('<id>', 'transfer id (from bwnode transfers, or printed by fetch --json)')
      .description('cancel a running fetch; the chunks it verified stay, and a new fetch resumes from them'),
  ).action(async (id: string, _options: DaemonOptions, command: Command) => {
    // `transfers` takes the same daemon options: given after `cancel ID`, they land on it
    const options = command.optsWithGlobals<DaemonOptions>()
    await run(
      options,
      async () => {
        const api = await client(options)
        const path = `/api/transfers/${encodeURIComponent(id)}`
        const asked = await api.delete<TransferInfo>(path)
        if (asked.state !== 'running') return asked
        // The fetch stops at its next step (a chunk in flight is dropped): report how it ended.
        return await waitFor(
          async () => {
            const now = await api.get<TransferInfo>(path)
            return now.state === 'running' ? undefined : now
          },
          { timeoutMs: CANCEL_WAIT_MS, what: `transfer ${id} to stop` },
        ).catch(() => asked)
      },
      (t) => `transfer ${t.id} (${t.cid}): ${t.state === 'running' ? 'cancelling' : t.state}`,
    )
  })
}
