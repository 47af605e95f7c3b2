import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Database, openDatabase } from '../../src/db/database.ts'
import { Ledger, type LedgerDb, type LedgerInit } from '../../src/ledger/index.ts'

/** A node's identity plus a ledger over its own LevelDB in a temp dir. */
export interface TestNode {
  key: PrivateKey
  peerId: PeerId
  id: string
  dir: string
  db: Database
  ledger: Ledger
  options: Partial<LedgerInit>
}

export async function newIdentity(): Promise<{ key: PrivateKey; peerId: PeerId; id: string }> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key)
  return { key, peerId, id: peerId.toString() }
}

/** `wrapDb` lets a test stand between the first ledger and its database (e.g. to fail a write). */
export async function startNode(
  options: Partial<LedgerInit> = {},
  wrapDb: (db: Database) => LedgerDb = (db) => db,
): Promise<TestNode> {
  const identity = await newIdentity()
  const dir = await mkdtemp(join(tmpdir(), 'bwnode-ledger-'))
  const db = await openDatabase(dir)
  const ledger = new Ledger({ ...options, db: wrapDb(db), self: identity.peerId, privateKey: identity.key })
  await ledger.open()
  return { ...identity, dir, db, ledger, options }
}

/**
 * Simulate a crash and restart: the ledger object is dropped without close(),
 * the database closed under it, and a new Ledger opened over the same files.
 */
export async function crashAndRestart(node: TestNode): Promise<void> {
  await node.db.close()
  node.db = await openDatabase(node.dir)
  node.ledger = new Ledger({ ...node.options, db: node.db, self: node.peerId, privateKey: node.key })
  await node.ledger.open()
}

export async function stopNode(node: TestNode): Promise<void> {
  await node.ledger.close()
  await node.db.close()
  await rm(node.dir, { recursive: true, force: true })
}

/** Credit fields of a summary: the part that must survive any crash exactly. */
export function creditView(ledger: Ledger) {
  const summary = ledger.summary()
  return {
    balance: summary.balance,
    earned: summary.earned,
    spent: summary.spent,
    grant: summary.grant,
    peers: summary.peers
      .filter((p) => p.earned !== 0 || p.spent !== 0 || p.paidBytes !== 0 || p.boughtBytes !== 0)
      .map(({ peerId, earned, spent, paidBytes, boughtBytes }) => ({
        peerId,
        earned,
        spent,
        paidBytes,
        boughtBytes,
      })),
  }
}
