import { table } from '../util/format.ts'
import type { LabRole } from './nodes.ts'

/** One lab node as the live table shows it; null = not known (yet). */
export interface LabRow {
  name: string
  role: LabRole
  /** Straight-line distance from the consumer, km. */
  distanceKm: number
  connectedPeers: number | null
  /** The consumer's measured ping RTT p50 to this node (ms). */
  rttP50Ms: number | null
  /** RTT the emulated links were configured for (ms). */
  modelRttMs: number
  /** Bytes/s this node served to peers over the last refresh. */
  sendBytesPerSec: number | null
  /** Bytes/s this node fetched over the last refresh. */
  receiveBytesPerSec: number | null
  servedBytes: number | null
  balance: number | null
  earned: number | null
  spent: number | null
  /** What the node holds or is doing, e.g. 'seed', 'fetch 42%', 'done'. */
  data: string
}

const MB = 1e6

function fixed(value: number | null, digits: number): string {
  return value === null ? '-' : value.toFixed(digits)
}

export const TABLE_HEADER = [
  'node',
  'role',
  'km',
  'peers',
  'rtt p50 ms',
  'model rtt',
  'send MB/s',
  'recv MB/s',
  'served MB',
  'balance',
  'earned',
  'spent',
  'data',
]

/** The live table as lines of text; RTTs are the consumer's view of each node. */
export function renderLabTable(rows: LabRow[]): string[] {
  const cells = rows.map((row) => [
    row.name,
    row.role,
    row.distanceKm >= 10 ? row.distanceKm.toFixed(0) : row.distanceKm.toFixed(1),
    row.connectedPeers === null ? '-' : String(row.connectedPeers),
    row.role === 'consumer' ? '(self)' : fixed(row.rttP50Ms, 1),
    row.role === 'consumer' ? '' : row.modelRttMs.toFixed(1),
    fixed(row.sendBytesPerSec === null ? null : row.sendBytesPerSec / MB, 2),
    fixed(row.receiveBytesPerSec === null ? null : row.receiveBytesPerSec / MB, 2),
    fixed(row.servedBytes === null ? null : row.servedBytes / MB, 1),
    fixed(row.balance, 4),
    fixed(row.earned, 4),
    fixed(row.spent, 4),
    row.data,
  ])
  return table([TABLE_HEADER, ...cells]).split('\n')
}

/** One line for logs that are not a terminal: the busiest nodes' rates and the fetch state. */
export function renderLabLine(elapsedSeconds: number, rows: LabRow[]): string {
  const parts = rows
    .filter(
      (row) =>
        (row.sendBytesPerSec ?? 0) > 0 || (row.receiveBytesPerSec ?? 0) > 0 || row.data.startsWith('fetch'),
    )
    .map((row) => {
      const rates: string[] = []
      if ((row.receiveBytesPerSec ?? 0) > 0)
        rates.push(`recv ${((row.receiveBytesPerSec ?? 0) / MB).toFixed(2)} MB/s`)
      if ((row.sendBytesPerSec ?? 0) > 0)
        rates.push(`send ${((row.sendBytesPerSec ?? 0) / MB).toFixed(2)} MB/s`)
      return `${row.name} ${[row.data, ...rates].filter((p) => p.length > 0).join(' ')}`
    })
  const peers = rows.map((row) => row.connectedPeers ?? 0)
  return `[lab ${elapsedSeconds.toFixed(0).padStart(3)}s] peers ${Math.min(...peers)}-${Math.max(...peers)}; ${parts.length > 0 ? parts.join('; ') : 'idle'}`
}
