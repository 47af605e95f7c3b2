import type { Command } from 'commander'
import type { NodeStatus, PeerEntry } from '../../node/bwnode.ts'
import { client, type DaemonOptions, daemonCommand, run } from '../common.ts'
import { table } from '../output.ts'

export function registerStatus(program: Command): void {
  daemonCommand(
    program.command('status').description('show the running node: peer id, addresses, peers, DHT'),
  ).action(async (options: DaemonOptions) => {
    await run(
      options,
      async () => (await client(options)).get<NodeStatus>('/api/status'),
      (s) =>
        [
          `peer id     ${s.peerId}`,
          `addresses   ${s.multiaddrs.join('\n            ')}`,
          `peers       ${s.connectedPeers} connected`,
          `DHT         ${s.dhtMode} mode, ${s.dhtRoutingTableSize} peers in routing table`,
          `data dir    ${s.dataDir}`,
        ].join('\n'),
    )
  })
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
                ...peers.map((p) => [p.peerId, p.connected ? 'yes' : 'no', p.addrs.join(' ')]),
              ]),
      )
    },
  )
  daemonCommand(
    program.command('find-peer').argument('<peerId>').description('look up a peer through the DHT'),
  ).action(async (peerId: string, options: DaemonOptions) => {
    await run(
      options,
      async () =>
        (await client(options)).get<{ peerId: string; addrs: string[] }>(
          `/api/peers/${encodeURIComponent(peerId)}/find`,
        ),
      (found) => `${found.peerId}\n  ${found.addrs.join('\n  ')}`,
    )
  })
  daemonCommand(
    program.command('ping').argument('<peerId>').description('measure the round-trip time to a peer'),
  ).action(async (peerId: string, options: DaemonOptions) => {
    await run(
      options,
      async () =>
        (await client(options)).get<{ peerId: string; rttMs: number }>(
          `/api/peers/${encodeURIComponent(peerId)}/ping`,
        ),
      (result) => `${result.peerId}: ${result.rttMs.toFixed(2)} ms`,
    )
  })
}
