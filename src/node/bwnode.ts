import { join } from 'node:path'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { LevelDatastore } from 'datastore-level'
import type { Level } from 'level'
import type { BwnodeConfig } from '../config/schema.ts'
import { type Database, openDatabase } from '../db/database.ts'
import { BwnodeError, ConfigError, errorMessage } from '../errors/index.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { type BwnodeLibp2p, buildLibp2p, type Libp2pInit } from './libp2p.ts'

export interface NodeStatus {
  peerId: string
  multiaddrs: string[]
  connectedPeers: number
  dhtRoutingTableSize: number
  dhtMode: 'client' | 'server'
  dataDir: string
  uptimeSeconds: number
}

export interface PeerEntry {
  peerId: string
  addrs: string[]
  connected: boolean
}

/**
 * One process = one node: a persistent identity, a LevelDB in the data dir and
 * a libp2p peer on the private DHT. Feature services hang off this object.
 */
export class Bwnode {
  readonly config: BwnodeConfig
  readonly dataDir: string
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  readonly db: Database
  readonly libp2p: BwnodeLibp2p
  private startedAt = 0

  private constructor(
    fields: Pick<Bwnode, 'config' | 'dataDir' | 'privateKey' | 'peerId' | 'db' | 'libp2p'>,
  ) {
    this.config = fields.config
    this.dataDir = fields.dataDir
    this.privateKey = fields.privateKey
    this.peerId = fields.peerId
    this.db = fields.db
    this.libp2p = fields.libp2p
  }

  static async create(config: BwnodeConfig, extra: Partial<Libp2pInit> = {}): Promise<Bwnode> {
    const dataDir = config.dataDir
    const { privateKey } = await loadOrCreateIdentity(dataDir)
    const db = await openDatabase(dataDir)
    try {
      // The peer store and DHT records live in the same LevelDB, so a restarted
      // node remembers its peers and rejoins without waiting for bootstrap.
      const datastore = new LevelDatastore(
        db.sublevel<string, Uint8Array>('libp2p', { valueEncoding: 'view' }) as unknown as Level<
          string,
          Uint8Array
        >,
      )
      const libp2p = await buildLibp2p({ config, privateKey, datastore, ...extra })
      return new Bwnode({ config, dataDir, privateKey, peerId: libp2p.peerId, db, libp2p })
    } catch (err) {
      await db.close()
      throw err
    }
  }

  get dbPath(): string {
    return join(this.dataDir, 'db')
  }

  async start(): Promise<void> {
    try {
      await this.libp2p.start()
    } catch (err) {
      await Promise.resolve(this.libp2p.stop()).catch(() => {})
      await this.db.close()
      const message = errorMessage(err)
      if (/EADDRINUSE|address already in use/i.test(message)) {
        throw new ConfigError(`listen ${this.config.listen.join(',')}: address already in use`)
      }
      throw new BwnodeError('ERR_START', `libp2p failed to start: ${message}`, { cause: err })
    }
    this.startedAt = Date.now()
  }

  async stop(): Promise<void> {
    await this.libp2p.stop()
    await this.db.close()
  }

  status(): NodeStatus {
    const dht = this.libp2p.services.dht as unknown as { routingTable?: { size: number } }
    return {
      peerId: this.peerId.toString(),
      multiaddrs: this.libp2p.getMultiaddrs().map((addr) => addr.toString()),
      connectedPeers: this.libp2p.getPeers().length,
      dhtRoutingTableSize: dht.routingTable?.size ?? 0,
      dhtMode: this.libp2p.services.dht.getMode(),
      dataDir: this.dataDir,
      uptimeSeconds: this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000,
    }
  }

  async peers(): Promise<PeerEntry[]> {
    const connected = new Set(this.libp2p.getPeers().map((peer) => peer.toString()))
    const entries: PeerEntry[] = []
    for (const peer of await this.libp2p.peerStore.all()) {
      const id = peer.id.toString()
      if (id === this.peerId.toString()) continue
      entries.push({
        peerId: id,
        addrs: peer.addresses.map((a) => a.multiaddr.toString()),
        connected: connected.has(id),
      })
    }
    return entries.sort(
      (a, b) => Number(b.connected) - Number(a.connected) || a.peerId.localeCompare(b.peerId),
    )
  }

  /** A DHT walk for the peer's addresses (not only the local peer store). */
  async findPeer(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; addrs: string[] }> {
    const target = parsePeerId(peerIdText)
    const info = await this.libp2p.peerRouting.findPeer(target, {
      signal: signal ?? AbortSignal.timeout(30_000),
    })
    return { peerId: info.id.toString(), addrs: info.multiaddrs.map((addr) => addr.toString()) }
  }

  async ping(peerIdText: string, signal?: AbortSignal): Promise<{ peerId: string; rttMs: number }> {
    const target = parsePeerId(peerIdText)
    const rttMs = await this.libp2p.services.ping.ping(target, {
      signal: signal ?? AbortSignal.timeout(15_000),
    })
    return { peerId: target.toString(), rttMs }
  }
}

export function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch {
    throw new BwnodeError('ERR_BAD_PEER_ID', `not a peer id: ${text}`)
  }
}
