import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_VOUCHER_BYTES, MICROCREDITS_PER_CREDIT } from '../../src/ledger/constants.ts'
import { creditsForBytes } from '../../src/ledger/credits.ts'
import {
  decodeVoucher,
  encodeVoucher,
  signVoucher,
  verifyVoucherSignature,
} from '../../src/ledger/voucher.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import * as chunk from '../../src/protocols/chunk/index.ts'
import {
  ChunkErrorCode,
  ChunkSession,
  concatParts,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  MessageType,
  type Request,
  type Response,
} from '../../src/protocols/chunk/index.ts'
import { readVarint } from '../../src/protocols/chunk/varint.ts'
import { getBit } from '../../src/store/bitfield.ts'
import { chunkCid, manifestCid } from '../../src/store/cid.ts'
import { decodeManifest, encodeManifest, manifestChunkList } from '../../src/store/manifest.ts'
import { tempDir } from '../helpers/daemon.ts'
import { createTestNode, type TestNode } from '../helpers/libp2p.ts'
import { startNode, stopQuietly } from '../helpers/swarm.ts'

/**
 * docs/PROTOCOL.md is the contract a third party implements. This test reads its tables and
 * test vectors and holds them against the encoders, decoders and constants in
 * src/protocols/chunk (and the manifest and voucher code the frames carry), so a change to
 * either side that the other does not follow fails here.
 */
const root = new URL('../../', import.meta.url).pathname
const doc = await readFile(join(root, 'docs/PROTOCOL.md'), 'utf8')
const credits = (await readFile(join(root, 'docs/CREDITS.md'), 'utf8')).replace(/\s+/g, ' ')

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const fromHex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'))
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** The text of a `## title` section, up to the next `## `. */
function section(text: string, title: string): string {
  const start = text.indexOf(`\n## ${title}`)
  if (start === -1) throw new Error(`no section "${title}"`)
  const end = text.indexOf('\n## ', start + 1)
  return text.slice(start, end === -1 ? undefined : end)
}

/** Table rows of a section: cells, trimmed, without the header and separator rows. */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    )
}

type Vector = Record<string, string>

/** Every ```vector block: `key: value` lines; indented lines continue the previous value. */
const vectors = new Map<string, Vector>()
for (const match of doc.matchAll(/```vector\n([\s\S]*?)```/g)) {
  const vector: Vector = {}
  let key: string | undefined
  for (const line of (match[1] as string).split('\n')) {
    const field = /^([a-z0-9-]+):\s?(.*)$/.exec(line)
    if (field !== null) {
      key = field[1] as string
      vector[key] = field[2] as string
    } else if (key !== undefined && line.trim() !== '') {
      vector[key] = `${vector[key]} ${line.trim()}`.trim()
    }
  }
  if (vector.name === undefined) throw new Error('vector without a name')
  vectors.set(vector.name, vector)
}

function vector(name: string): Vector {
  const found = vectors.get(name)
  if (found === undefined) throw new Error(`docs/PROTOCOL.md has no vector ${name}`)
  return found
}

/** The bytes a vector stands for (its `bytes`, `frame` or `utf8` field). */
function vectorBytes(name: string): Uint8Array {
  const v = vector(name)
  if (v.bytes !== undefined) return fromHex(v.bytes)
  if (v.utf8 !== undefined) return utf8(JSON.parse(v.utf8) as string)
  if (v.frame !== undefined) return fromHex(v.frame)
  throw new Error(`vector ${name} has no bytes`)
}

type ByteSpec = { utf8: string } | { hex: string } | { vector: string }

function bytesOf(spec: ByteSpec): Uint8Array {
  if ('utf8' in spec) return utf8(spec.utf8)
  if ('hex' in spec) return fromHex(spec.hex)
  return vectorBytes(spec.vector)
}

/** A vector's `message` as the Request or Response the code works with. */
function messageOf(v: Vector): Request | Response {
  const m = JSON.parse(v.message as string) as Record<string, unknown>
  const id = m.id as number
  switch (m.type) {
    case 'get':
    case 'have':
    case 'manifest':
      return { type: m.type, id, cid: CID.parse(m.cid as string) }
    case 'pay':
      return { type: 'pay', id, voucher: bytesOf(m.voucher as ByteSpec) }
    case 'cancel':
      return { type: 'cancel', id }
    case 'chunk':
    case 'manifest-reply':
      return { type: m.type, id, bytes: bytesOf(m.bytes as ByteSpec) }
    case 'have-reply':
      return {
        type: 'have-reply',
        id,
        pricePerGiB: m.pricePerGiB as number,
        bitfield: bytesOf(m.bitfield as ByteSpec),
      }
    case 'pay-ack':
      return { type: 'pay-ack', id }
    case 'error':
      return { type: 'error', id, code: m.code as string, message: m.message as string }
    default:
      throw new Error(`unknown message type ${String(m.type)}`)
  }
}

/** Comparable form: CIDs as strings, bytes as hex. */
function plain(message: Request | Response): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(message)) {
    if (value instanceof Uint8Array) out[key] = hex(value)
    else if (CID.asCID(value) !== null) out[key] = String(value)
    else out[key] = value
  }
  return out
}

const messageVectors = [...vectors.values()].filter((v) => v.message !== undefined)

describe('docs/PROTOCOL.md test vectors', () => {
  it('has a vector for every message type', () => {
    const types = new Set(messageVectors.map((v) => fromHex(v.frame as string)))
    const seen = new Set<number>()
    for (const frame of types) {
      const prefix = readVarint(frame, 0)!
      seen.add(frame[prefix.size] as number)
    }
    expect([...seen].sort()).toEqual(Object.values(MessageType).sort())
  })

  it.each(messageVectors.map((v) => [v.name as string, v] as const))(
    '%s decodes to its message and re-encodes to its frame',
    (_name, v) => {
      const frame = fromHex(v.frame as string)
      const prefix = readVarint(frame, 0)
      expect(prefix).toBeDefined()
      const body = frame.subarray(prefix!.size)
      // The length prefix counts exactly the body.
      expect(prefix!.value).toBe(body.length)
      const expected = messageOf(v)
      const isRequest = ((body[0] as number) & 0x80) === 0
      const decoded = isRequest ? decodeRequest(body) : decodeResponse(body)
      expect(plain(decoded)).toEqual(plain(expected))
      const encoded = concatParts(
        isRequest ? encodeRequest(expected as Request) : encodeResponse(expected as Response),
      )
      expect(hex(encoded)).toBe(hex(frame))
    },
  )

  it('chunk vectors: the CID is CIDv1 raw sha2-256 of the bytes', () => {
    for (const name of ['CHUNK_A', 'CHUNK_B']) {
      const v = vector(name)
      const cid = chunkCid(vectorBytes(name))
      expect(cid.toString()).toBe(v.cid)
      // Binary form as documented: 01 55 12 20 + digest.
      expect(hex(cid.bytes).slice(0, 8)).toBe('01551220')
    }
  })

  it('manifest vector: canonical, hashes to its dataset CID, lists the chunk vectors', () => {
    const bytes = vectorBytes('MANIFEST')
    const manifest = decodeManifest(bytes)
    expect(hex(encodeManifest(manifest))).toBe(hex(bytes))
    const cid = manifestCid(bytes)
    expect(cid.toString()).toBe(vector('MANIFEST').cid)
    expect(hex(cid.bytes).slice(0, 10)).toBe('0180041220')
    expect(manifestChunkList(manifest)).toEqual([vector('CHUNK_A').cid, vector('CHUNK_B').cid])
    // The GET, HAVE and MANIFEST vectors ask for these CIDs.
    expect(JSON.parse(vector('GET').message as string).cid).toBe(vector('CHUNK_A').cid)
    expect(JSON.parse(vector('HAVE').message as string).cid).toBe(cid.toString())
    // HAVE_REPLY's have-map: chunk 0 held, chunk 1 not, MSB first.
    const reply = messageOf(vector('HAVE_REPLY')) as Extract<Response, { type: 'have-reply' }>
    expect([getBit(reply.bitfield, 0), getBit(reply.bitfield, 1)]).toEqual([true, false])
  })

  it('voucher vector: signing its fields with the seeded keys gives its bytes', async () => {
    const v = vector('VOUCHER')
    const payerKey = await generateKeyPairFromSeed('Ed25519', fromHex(v['payer-seed'] as string))
    const payeeKey = await generateKeyPairFromSeed('Ed25519', fromHex(v['payee-seed'] as string))
    const fields = JSON.parse(v.fields as string)
    expect(peerIdFromPrivateKey(payerKey).toString()).toBe(fields.payer)
    expect(peerIdFromPrivateKey(payeeKey).toString()).toBe(fields.payee)
    expect(fields.cumulativeCredits).toBe(creditsForBytes(fields.cumulativeBytes, fields.pricePerGiB))
    const bytes = vectorBytes('VOUCHER')
    expect(hex(encodeVoucher(await signVoucher(payerKey, fields)))).toBe(hex(bytes))
    const decoded = decodeVoucher(bytes)
    expect({ ...decoded, signature: undefined }).toEqual({ ...fields, signature: undefined })
    expect(await verifyVoucherSignature(decoded)).toBe(true)
    // CREDITS.md: an Ed25519 voucher is 200 bytes, at most MAX_VOUCHER_BYTES.
    expect(bytes.length).toBe(200)
    expect(credits).toContain('An Ed25519 voucher is 200 bytes')
    expect(credits).toContain(`\`MAX_VOUCHER_BYTES\` (${MAX_VOUCHER_BYTES})`)
  })

  it('HAVE_REPLY price is in micro-credits per GiB: 1 credit/GiB is 1000000', () => {
    const reply = messageOf(vector('HAVE_REPLY')) as Extract<Response, { type: 'have-reply' }>
    expect(reply.pricePerGiB).toBe(1 * MICROCREDITS_PER_CREDIT)
    // The voucher vector uses the price exactly as HAVE_REPLY carries it.
    expect(JSON.parse(vector('VOUCHER').fields as string).pricePerGiB).toBe(reply.pricePerGiB)
  })
})

describe('docs/PROTOCOL.md tables', () => {
  it('message types match MessageType', () => {
    const messages = section(doc, 'Messages')
    const table = rows(messages).filter((cells) => /^0x[0-9A-F]{2}$/i.test(cells[0] ?? ''))
    const documented = Object.fromEntries(
      table.map((cells) => [cells[1], Number.parseInt(cells[0] as string, 16)]),
    )
    expect(documented).toEqual({ ...MessageType })
  })

  it('error codes: every code of the code is documented once, on the wire or local', async () => {
    const errors = section(doc, 'Error codes')
    const wire = rows(errors)
      .map((cells) => /^`(ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '')?.[1])
      .filter((code): code is string => code !== undefined)
    const localText = errors.slice(errors.indexOf('Local codes'))
    const local = [...localText.matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1] as string)
    expect(new Set(wire).size).toBe(wire.length)
    for (const code of local) expect(wire).not.toContain(code)
    for (const code of Object.values(ChunkErrorCode)) expect([...wire, ...local]).toContain(code)
    // The ledger's rejection codes reach the peer as they are (VoucherRejected is a BwnodeError).
    const ledgerErrors = await readFile(join(root, 'src/ledger/errors.ts'), 'utf8')
    const union = /type VoucherRejectCode =([\s\S]*?)\n\n/.exec(ledgerErrors)?.[1] ?? ''
    // the union names registry constants: typeof ERR.VOUCHER_X is 'ERR_VOUCHER_X'
    const voucherCodes = [...union.matchAll(/typeof ERR\.(VOUCHER_[A-Z_]+)/g)].map((m) => `ERR_${m[1]}`)
    expect(voucherCodes.length).toBeGreaterThanOrEqual(8)
    for (const code of voucherCodes) expect(wire).toContain(code)
    // And nothing is documented that the code never sends.
    for (const code of wire) expect([...Object.values(ChunkErrorCode), ...voucherCodes]).toContain(code)
  })

  it('constants match src/protocols/chunk/constants.ts', () => {
    const table = rows(section(doc, 'Constants')).filter((cells) => /^`[A-Z_]+`$/.test(cells[0] ?? ''))
    expect(table.length).toBeGreaterThanOrEqual(15)
    const exported = chunk as unknown as Record<string, unknown>
    for (const [name, value] of table) {
      const key = (name as string).slice(1, -1)
      expect({ [key]: exported[key] }).toEqual({ [key]: Number(value) })
    }
    expect(doc).toContain(`\`${chunk.CHUNK_PROTOCOL}\``)
  })

  it('the documented payment thresholds are the node defaults', async () => {
    const { parseConfig } = await import('../../src/config/load.ts')
    const config = parseConfig({}, 'defaults')
    const mib = (bytes: number): string => `${bytes / 2 ** 20} MiB`
    expect(doc).toContain(
      `\`ledger.paymentThresholdBytes\` (default ${mib(config.ledger.paymentThresholdBytes)})`,
    )
    expect(doc).toContain(
      `\`ledger.disconnectThresholdBytes\` (default ${mib(config.ledger.disconnectThresholdBytes)})`,
    )
    expect(credits).toContain(`default ${mib(config.ledger.paymentThresholdBytes)}`)
    expect(credits).toContain(`default ${mib(config.ledger.disconnectThresholdBytes)}`)
  })
})

describe('the documented price unit on a real node', () => {
  let work: string
  let node: Bwnode
  let client: TestNode

  beforeAll(async () => {
    work = await tempDir('bwnode-protocol-doc-')
    node = await startNode(join(work, 'node'), { offer: { pricePerGiB: 1 } })
    client = await createTestNode()
    await client.start()
  })
  afterAll(async () => {
    await client?.stop()
    if (node !== undefined) await stopQuietly(node)
    await rm(work, { recursive: true, force: true })
  })

  it('a node offering 1 credit/GiB sends the HAVE_REPLY price of the vector', async () => {
    const source = join(work, 'a.txt')
    await writeFile(source, 'hello\n')
    const info = await node.store.addPath(source, { chunkSize: 65536 })
    await client.dial(node.libp2p.getMultiaddrs()[0]!)
    const session = await ChunkSession.open(client, node.peerId)
    try {
      const reply = await session.have(CID.parse(info.cid))
      const documented = messageOf(vector('HAVE_REPLY')) as Extract<Response, { type: 'have-reply' }>
      expect(reply.pricePerGiB).toBe(documented.pricePerGiB)
      expect(hex(reply.bitfield)).toBe('80')
    } finally {
      await session.close()
    }
  })
})
