import type { NodeStatus, PeerEntry, TransferInfo } from '../contract/api.ts'
import { distanceKm, expectedRttMs } from './nodes.ts'
import type { LabNodeProcess } from './process.ts'
import type { LabRow } from './table.ts'

interface CreditsReply {
  balance: number
  earned: number
  spent: number
  peers: Array<{ servedBytes: number }>
}

interface DatasetReply {
  cid: string
  complete: boolean
}

interface Counters {
  at: number
  servedBytes: number
  receivedBytes: number
}

/** Bytes a node has fetched so far, over all its transfers. */
export function receivedBytes(transfers: TransferInfo[]): number {
  let total = 0
  for (const transfer of transfers) {
    if (transfer.result !== null) total += transfer.result.fetchedBytes
    else if (transfer.progress !== null) total += transfer.progress.doneBytes
  }
  return total
}

export function dataLabel(transfers: TransferInfo[], datasets: DatasetReply[]): string {
  const latest = transfers[0]
  if (latest?.state === 'running') {
    const progress = latest.progress
    if (progress === null || progress.totalBytes === 0) return 'fetch (finding providers)'
    return `fetch ${Math.floor((100 * progress.doneBytes) / progress.totalBytes)}%`
  }
  if (latest?.state === 'done' && latest.result !== null)
    return `fetched ${latest.result.seconds.toFixed(1)}s from ${latest.result.providers.filter((p) => p.bytes > 0).length}`
  if (latest !== undefined && latest.state !== 'done') return latest.state
  const complete = datasets.filter((d) => d.complete).length
  return complete > 0 ? `seed x${complete}` : ''
}

/**
 * Polls every lab node's API and turns the replies into table rows. Rates are
 * differences between two polls, so the first sample shows none. A node that
 * does not answer keeps its row with unknown values instead of failing the lab.
 */
export class LabMonitor {
  private readonly nodes: LabNodeProcess[]
  private readonly consumer: LabNodeProcess
  private readonly previous = new Map<string, Counters>()
  private readonly now: () => number

  constructor(nodes: LabNodeProcess[], init: { now?: () => number } = {}) {
    this.nodes = nodes
    const consumer = nodes.find((node) => node.spec.role === 'consumer')
    if (consumer === undefined) throw new Error('lab monitor needs the consumer node')
    this.consumer = consumer
    this.now = init.now ?? Date.now
  }

  async sample(): Promise<LabRow[]> {
    const consumerPeers = await this.consumer.api
      .get<PeerEntry[]>('/api/peers')
      .catch(() => [] as PeerEntry[])
    const rttByPeer = new Map(consumerPeers.map((peer) => [peer.peerId, peer.rttMs?.p50 ?? null]))
    return Promise.all(this.nodes.map((node) => this.row(node, rttByPeer)))
  }

  private async row(node: LabNodeProcess, rttByPeer: Map<string, number | null>): Promise<LabRow> {
    const consumerLink = this.consumer.spec.config.link
    const link = node.spec.config.link
    const [status, credits, transfers, datasets] = await Promise.all([
      node.api.get<NodeStatus>('/api/status').catch(() => null),
      node.api.get<CreditsReply>('/api/credits?limit=1').catch(() => null),
      node.api.get<TransferInfo[]>('/api/transfers').catch(() => null),
      node.api.get<DatasetReply[]>('/api/datasets').catch(() => null),
    ])
    const at = this.now()
    const served = credits === null ? null : credits.peers.reduce((sum, peer) => sum + peer.servedBytes, 0)
    const received = transfers === null ? null : receivedBytes(transfers)
    const before = this.previous.get(node.peerId)
    let sendRate: number | null = null
    let receiveRate: number | null = null
    if (before !== undefined && at > before.at) {
      const seconds = (at - before.at) / 1000
      if (served !== null) sendRate = Math.max(0, served - before.servedBytes) / seconds
      if (received !== null) receiveRate = Math.max(0, received - before.receivedBytes) / seconds
    }
    if (served !== null && received !== null)
      this.previous.set(node.peerId, { at, servedBytes: served, receivedBytes: received })
    return {
      name: node.spec.name,
      role: node.spec.role,
      distanceKm: distanceKm(consumerLink, link),
      connectedPeers: status?.connectedPeers ?? null,
      rttP50Ms: rttByPeer.get(node.peerId) ?? null,
      modelRttMs: expectedRttMs(consumerLink, link),
      sendBytesPerSec: sendRate,
      receiveBytesPerSec: receiveRate,
      servedBytes: served,
      balance: credits?.balance ?? null,
      earned: credits?.earned ?? null,
      spent: credits?.spent ?? null,
      data: dataLabel(transfers ?? [], datasets ?? []),
    }
  }
}
