import type { Command } from 'commander'
import type { ApiClient } from '../../client/api-client.ts'
import type { NodeStatus, PeerEntry } from '../../contract/api.ts'
import { ERR } from '../../errors/codes.ts'
import { BwnodeError, errorCode, errorMessage } from '../../errors/index.ts'
import { plural, table } from '../../util/format.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'

/** Errors of our own making (the CLI's, the API's): passed on as they are. */
const OWN_ERRORS = new Set<string>([ERR.BAD_PEER_ID, ERR.DAEMON_NOT_RUNNING, ERR.TIMEOUT, ERR.USAGE])

interface PeerContext {
  status: NodeStatus
  known: PeerEntry | undefined
}

/**
 * What the node knows of a peer before it is asked to reach it: a peer it has no address for,
 * with no peer connected to look it up through, is said plainly and at once (libp2p would
 * spend its whole dial or query timeout on it and then print its own text).
 */
async function peerContext(api: ApiClient, peerId: string, what: string): Promise<PeerContext> {
  // Checked here as the daemon would (same code, same message), before the shortcut below.
  const { peerIdFromString } = await import('@libp2p/peer-id')
  try {
    peerIdFromString(peerId)
  } catch {
    throw new BwnodeError(ERR.BAD_PEER_ID, `not a peer id: ${peerId}`)
  }
  const [status, peers] = await Promise.all([
    api.get<NodeStatus>('/api/status'),
    api.get<PeerEntry[]>('/api/peers'),
  ])
  if (peerId === status.peerId) throw new BwnodeError(ERR.SELF, `${peerId} is this node`)
  const known = peers.find((p) => p.peerId === peerId)
  if ((known === undefined || known.addrs.length === 0) && status.connectedPeers === 0) {
    throw new BwnodeError(
      ERR.PEER_UNKNOWN,
      `cannot ${what} ${peerId}: this node has no address for it and 0 peers connected to look it up through`,
    )
  }
  return { status, known }
}

export function registerPeers(program: Command): void {
  daemonCommand(program.command('peers').description('list known peers (connected first)')).action(
    async (options: DaemonOptions) => {
      await run(
        options,
        async () => (await client(options)).get<PeerEntry[]>('/api/peers'),
        (peers) =>
          peers.length === 0
            ? 'no peers known yet'
            : table([
                ['PEER', 'CONNECTED', 'ADDRESSES'],
                ...peers.map((p) => [p.peerId, p.connection ?? 'no', p.addrs.join(' ')]),
              ]),
      )
    },
  )
  daemonCommand(
    program.command('find-peer').argument('<peerId>').description('look up a peer through the DHT'),
  ).action(async (peerId: string, options: DaemonOptions) => {
    await run(
      options,
      async () => {
        const api = await client(options)
        const { status } = await peerContext(api, peerId, 'look up')
        try {
          return await api.get<{ peerId: string; addrs: string[] }>(
            `/api/peers/${encodeURIComponent(peerId)}/find`,
          )
        } catch (err) {
          if (OWN_ERRORS.has(errorCode(err))) throw err
          throw new BwnodeError(
            ERR.PEER_NOT_FOUND,
            `${peerId} was not found through the DHT (asked via ${plural(status.connectedPeers, 'connected peer')}: ${errorMessage(err)})`,
          )
        }
      },
      (found) => `${found.peerId}\n  ${found.addrs.join('\n  ')}`,
    )
  })
  daemonCommand(
    program.command('ping').argument('<peerId>').description('measure the round-trip time to a peer'),
  ).action(async (peerId: string, options: DaemonOptions) => {
    await run(
      options,
      async () => {
        const api = await client(options)
        const { known } = await peerContext(api, peerId, 'ping')
        try {
          return await api.get<{ peerId: string; rttMs: number }>(
            `/api/peers/${encodeURIComponent(peerId)}/ping`,
          )
        } catch (err) {
          if (OWN_ERRORS.has(errorCode(err))) throw err
          const why =
            known === undefined || known.addrs.length === 0
              ? 'no address is known for it and none was found through the DHT'
              : `it did not answer at ${known.addrs.join(', ')}`
          throw new BwnodeError(ERR.PEER_UNREACHABLE, `cannot ping ${peerId}: ${why} (${errorMessage(err)})`)
        }
      },
      (result) => `${result.peerId}: ${result.rttMs.toFixed(2)} ms`,
    )
  })
}
