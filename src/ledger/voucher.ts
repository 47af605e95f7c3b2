import { randomBytes } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { ERR } from '../errors/codes.ts'
import { BwnodeError, ProtocolError } from '../errors/index.ts'
import {
  CHANNEL_ID_BYTES,
  MAX_PEER_ID_BYTES,
  MAX_SIGNATURE_BYTES,
  MAX_VOUCHER_BYTES,
  VOUCHER_DOMAIN,
  VOUCHER_VERSION,
} from './constants.ts'
import { isUint } from './credits.ts'

/**
 * What a downloader (payer) promises a server (payee): in channel `channelId`,
 * it has received `cumulativeBytes` in total and owes `cumulativeCredits`
 * (micro-credits) in total at `pricePerGiB` (micro-credits per GiB). Vouchers
 * are cumulative: the latest one replaces all earlier ones in its channel.
 */
export interface VoucherFields {
  /** Peer id string of the signer; its public key is embedded (Ed25519). */
  payer: string
  payee: string
  /** 16 random bytes as 32 lowercase hex characters, one per payer-payee session. */
  channelId: string
  /** Starts at 1 and strictly increases within the channel. */
  sequence: number
  cumulativeBytes: number
  /** Micro-credits: ceil(cumulativeBytes × pricePerGiB / 2^30). */
  cumulativeCredits: number
  /** Micro-credits per GiB; fixed for the life of a channel. */
  pricePerGiB: number
  /** When the payer signed, ms since the epoch; informational. */
  timeMs: number
}

export interface Voucher extends VoucherFields {
  signature: Uint8Array
}

const DOMAIN_BYTES = new TextEncoder().encode(VOUCHER_DOMAIN)
const CHANNEL_ID_PATTERN = new RegExp(`^[0-9a-f]{${CHANNEL_ID_BYTES * 2}}$`)
const U64_FIELDS = ['sequence', 'cumulativeBytes', 'cumulativeCredits', 'pricePerGiB', 'timeMs'] as const

function malformed(message: string): ProtocolError {
  return new ProtocolError(ERR.VOUCHER_MALFORMED, message)
}

/** A fresh random channel id. */
export function newChannelId(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(CHANNEL_ID_BYTES)
  if (bytes.length !== CHANNEL_ID_BYTES) throw new RangeError(`random source gave ${bytes.length} bytes`)
  return Buffer.from(bytes).toString('hex')
}

/**
 * Parsing a peer id (base58, multihash, protobuf key) costs more than the rest
 * of a voucher; a node talks to few peers, so remember recent ones.
 */
const PEER_CACHE_SIZE = 1024
const peerIdsByString = new Map<string, PeerId>()
const peerStringsByBytes = new Map<string, string>()

function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= PEER_CACHE_SIZE) cache.clear()
  cache.set(key, value)
  return value
}

function parsePeerId(peerId: string): PeerId {
  return peerIdsByString.get(peerId) ?? remember(peerIdsByString, peerId, peerIdFromString(peerId))
}

function peerIdBytes(peerId: string, field: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = parsePeerId(peerId).toMultihash().bytes
  } catch {
    throw malformed(`${field} is not a peer id: ${String(peerId).slice(0, 80)}`)
  }
  if (bytes.length > MAX_PEER_ID_BYTES) throw malformed(`${field} peer id is ${bytes.length} bytes`)
  return bytes
}

/**
 * The body: every field in a fixed order, big-endian, no optional parts, so one
 * set of fields has exactly one encoding.
 *   u8 version | u8 len, payer multihash | u8 len, payee multihash | 16 B channel id
 *   | u64 sequence | u64 cumulative bytes | u64 cumulative credits | u64 price per GiB | u64 time ms
 */
function encodeBody(fields: VoucherFields): Uint8Array {
  const payer = peerIdBytes(fields.payer, 'payer')
  const payee = peerIdBytes(fields.payee, 'payee')
  if (typeof fields.channelId !== 'string' || !CHANNEL_ID_PATTERN.test(fields.channelId)) {
    throw malformed(`channel id must be ${CHANNEL_ID_BYTES * 2} lowercase hex characters`)
  }
  for (const name of U64_FIELDS) {
    if (!isUint(fields[name])) throw malformed(`${name} must be a non-negative safe integer`)
  }
  const body = new Uint8Array(
    1 + 1 + payer.length + 1 + payee.length + CHANNEL_ID_BYTES + U64_FIELDS.length * 8,
  )
  const view = new DataView(body.buffer)
  let at = 0
  body[at++] = VOUCHER_VERSION
  body[at++] = payer.length
  body.set(payer, at)
  at += payer.length
  body[at++] = payee.length
  body.set(payee, at)
  at += payee.length
  body.set(Buffer.from(fields.channelId, 'hex'), at)
  at += CHANNEL_ID_BYTES
  for (const name of U64_FIELDS) {
    view.setBigUint64(at, BigInt(fields[name]))
    at += 8
  }
  return body
}

/** Exactly the bytes a voucher signature covers: 'bwnode-voucher-v1\0' followed by the body. */
export function voucherSigningBytes(fields: VoucherFields): Uint8Array {
  const body = encodeBody(fields)
  const out = new Uint8Array(DOMAIN_BYTES.length + body.length)
  out.set(DOMAIN_BYTES, 0)
  out.set(body, DOMAIN_BYTES.length)
  return out
}

/** Wire form: body | u8 signature length | signature. Throws ProtocolError(ERR_VOUCHER_MALFORMED) on bad fields. */
export function encodeVoucher(voucher: Voucher): Uint8Array {
  const body = encodeBody(voucher)
  const sig = voucher.signature
  if (!(sig instanceof Uint8Array) || sig.length === 0 || sig.length > MAX_SIGNATURE_BYTES) {
    throw malformed(`signature must be 1..${MAX_SIGNATURE_BYTES} bytes`)
  }
  const out = new Uint8Array(body.length + 1 + sig.length)
  out.set(body, 0)
  out[body.length] = sig.length
  out.set(sig, body.length + 1)
  return out
}

class Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  at = 0

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  take(length: number, what: string): Uint8Array {
    if (this.at + length > this.bytes.length) throw malformed(`truncated at ${what}`)
    const out = this.bytes.subarray(this.at, this.at + length)
    this.at += length
    return out
  }

  u8(what: string): number {
    return this.take(1, what)[0]!
  }

  u64(what: string): number {
    this.take(8, what)
    const value = this.view.getBigUint64(this.at - 8)
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} exceeds 2^53-1`)
    return Number(value)
  }

  peerId(what: string): string {
    const length = this.u8(`${what} length`)
    if (length === 0 || length > MAX_PEER_ID_BYTES) throw malformed(`${what} length ${length}`)
    const bytes = this.take(length, what)
    const hex = Buffer.from(bytes).toString('hex')
    const known = peerStringsByBytes.get(hex)
    if (known !== undefined) return known
    let canonical: Uint8Array
    let text: string
    try {
      const peerId = peerIdFromMultihash(Digest.decode(bytes))
      canonical = peerId.toMultihash().bytes
      text = peerId.toString()
      // Some multihashes make a peer id whose string form does not parse back (a sha2-256
      // digest that is not 32 bytes); such a voucher could be accepted but never re-encoded.
      parsePeerId(text)
    } catch {
      throw malformed(`${what} is not a peer id multihash`)
    }
    // Reject alternative encodings (e.g. non-minimal varints) so each voucher has one byte form.
    if (!Buffer.from(canonical).equals(bytes)) throw malformed(`${what} is not canonically encoded`)
    return remember(peerStringsByBytes, hex, text)
  }
}

/**
 * Parse a wire voucher. Any input that is not exactly one well-formed voucher
 * throws ProtocolError with code ERR_VOUCHER_MALFORMED and nothing else. The
 * signature is not checked here: see verifyVoucherSignature.
 */
export function decodeVoucher(bytes: Uint8Array): Voucher {
  try {
    if (!(bytes instanceof Uint8Array)) throw malformed('voucher is not bytes')
    if (bytes.length > MAX_VOUCHER_BYTES)
      throw malformed(`voucher is ${bytes.length} bytes, max ${MAX_VOUCHER_BYTES}`)
    const reader = new Reader(bytes)
    const version = reader.u8('version')
    if (version !== VOUCHER_VERSION) throw malformed(`unknown voucher version ${version}`)
    const payer = reader.peerId('payer')
    const payee = reader.peerId('payee')
    const channelId = Buffer.from(reader.take(CHANNEL_ID_BYTES, 'channel id')).toString('hex')
    const sequence = reader.u64('sequence')
    const cumulativeBytes = reader.u64('cumulative bytes')
    const cumulativeCredits = reader.u64('cumulative credits')
    const pricePerGiB = reader.u64('price per GiB')
    const timeMs = reader.u64('time')
    const sigLength = reader.u8('signature length')
    if (sigLength === 0 || sigLength > MAX_SIGNATURE_BYTES) throw malformed(`signature length ${sigLength}`)
    const signature = Uint8Array.from(reader.take(sigLength, 'signature'))
    if (reader.at !== bytes.length) throw malformed(`${bytes.length - reader.at} trailing bytes`)
    return {
      payer,
      payee,
      channelId,
      sequence,
      cumulativeBytes,
      cumulativeCredits,
      pricePerGiB,
      timeMs,
      signature,
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw malformed(`undecodable voucher: ${(err as Error)?.message ?? String(err)}`)
  }
}

/** Sign `fields` with the payer's key. The key must be the payer's: a node only ever signs its own vouchers. */
export async function signVoucher(privateKey: PrivateKey, fields: VoucherFields): Promise<Voucher> {
  const signer = peerIdFromPrivateKey(privateKey).toString()
  if (signer !== fields.payer) {
    throw new BwnodeError(
      ERR.VOUCHER_SIGNER,
      `key of ${signer} cannot sign a voucher whose payer is ${fields.payer}`,
    )
  }
  // Node's signer hands back a Buffer; keep vouchers plain Uint8Arrays so decoded and signed ones compare equal.
  const signature = Uint8Array.from(await privateKey.sign(voucherSigningBytes(fields)))
  return { ...copyFields(fields), signature }
}

/** True when the voucher's signature verifies under the public key embedded in its payer peer id. Never throws. */
export async function verifyVoucherSignature(voucher: Voucher): Promise<boolean> {
  try {
    const publicKey = parsePeerId(voucher.payer).publicKey
    if (publicKey === undefined) return false
    return await publicKey.verify(voucherSigningBytes(voucher), voucher.signature)
  } catch {
    return false
  }
}

function copyFields(fields: VoucherFields): VoucherFields {
  const { payer, payee, channelId, sequence, cumulativeBytes, cumulativeCredits, pricePerGiB, timeMs } =
    fields
  return { payer, payee, channelId, sequence, cumulativeBytes, cumulativeCredits, pricePerGiB, timeMs }
}
