import { createHash } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromMultihash, peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { z } from 'zod'
import { ERR } from '../../errors/codes.ts'
import type { VivaldiCoordinate } from '../../latency/vivaldi.ts'
import { canonicalJson } from './canonical-json.ts'
import {
  MAX_OFFER_ADDR_LENGTH,
  MAX_OFFER_ADDRS,
  MAX_OFFER_BYTES,
  MAX_OFFER_CLOCK_SKEW_MS,
  MAX_OFFER_CONCURRENCY,
  MAX_OFFER_LIFETIME_MS,
  MAX_OFFER_SIGNATURE_BYTES,
  OFFER_MAGIC,
  OFFER_NAMESPACE,
  OFFER_SIGNATURE_DOMAIN,
  OFFERS_CID_SEED,
} from './constants.ts'
import { OfferError } from './errors.ts'

/**
 * A bandwidth offer: what a node lends, signed with its libp2p identity key.
 *
 * Wire format (version 1):
 *
 *   'BWO1' | body length (u16, big-endian) | body | signature
 *
 * where body is the canonical JSON (sorted keys, UTF-8) of the offer and the
 * signature covers OFFER_SIGNATURE_DOMAIN + body. The signature is checked
 * over the exact bytes received; decodeOffer also insists the body is
 * canonical, so decode -> encode reproduces the same bytes.
 */
export interface BandwidthOffer {
  /** Signer; its public key is embedded in the id (Ed25519 or secp256k1). */
  peerId: string
  /** Spare upload lent to others (Mbit/s). */
  uplinkMbps: number
  /** Peers served at once. */
  maxConcurrent: number
  /** Credits charged per GiB served. */
  pricePerGiB: number
  /** The node's Vivaldi coordinate when it signed. */
  coordinate: VivaldiCoordinate
  /** Where to dial the node (multiaddr strings). */
  addrs: string[]
  /** When signed (ms since epoch); the newest offer of a peer wins. */
  issuedAt: number
  /** After this (ms since epoch) the offer is void. */
  expiresAt: number
  /**
   * Present only when the node limits its lending (byte caps, a serving schedule), as it stood
   * at issuedAt; a node without limits signs the body without this field.
   */
  lending?: OfferLending
}

/** Whether a node with lending limits serves now, until when, and how much more. */
export interface OfferLending {
  /** Serving peers when signed; while false its server answers ERR_LENDING_CLOSED. */
  open: boolean
  /**
   * While open: when its schedule closes lending (a cap may close it sooner); while closed: when
   * it opens again. Ms since epoch; absent when no change is scheduled.
   */
  until?: number
  /** Bytes it could still serve before a cap closes lending; absent without a cap. */
  remainingBytes?: number
}

/** The fields a node chooses; createOffer adds its peer id. */
export type OfferFields = Omit<BandwidthOffer, 'peerId'>

export interface SignedOffer {
  offer: BandwidthOffer
  signature: Uint8Array
}

const finite = z.number().refine(Number.isFinite)
const nonNegative = finite.refine((v) => v >= 0)
const timestamp = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const byteCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

const offerSchema = z.strictObject({
  peerId: z.string().min(1).max(128),
  uplinkMbps: nonNegative,
  maxConcurrent: z.number().int().min(1).max(MAX_OFFER_CONCURRENCY),
  pricePerGiB: nonNegative,
  coordinate: z.strictObject({ x: finite, y: finite, height: nonNegative, error: nonNegative }),
  addrs: z.array(z.string().min(1).max(MAX_OFFER_ADDR_LENGTH)).max(MAX_OFFER_ADDRS),
  issuedAt: timestamp,
  expiresAt: timestamp,
  lending: z
    .strictObject({
      open: z.boolean(),
      until: timestamp.optional(),
      remainingBytes: byteCount.optional(),
    })
    .optional(),
})

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const MAGIC = encoder.encode(OFFER_MAGIC)
const DOMAIN = encoder.encode(OFFER_SIGNATURE_DOMAIN)
const KEY_PREFIX = encoder.encode(`/${OFFER_NAMESPACE}/`)
const HEADER_BYTES = MAGIC.length + 2

/** The well-known CID (raw codec, sha2-256 of OFFERS_CID_SEED) that every offering node provides. */
export const OFFERS_CID: CID = CID.createV1(
  0x55,
  Digest.create(0x12, createHash('sha256').update(OFFERS_CID_SEED).digest()),
)

/** Sign `fields` as the node owning `privateKey`. Throws OfferError if the fields would not validate. */
export async function createOffer(privateKey: PrivateKey, fields: OfferFields): Promise<SignedOffer> {
  const offer: BandwidthOffer = { peerId: peerIdFromPrivateKey(privateKey).toString(), ...fields }
  checkOffer(offer)
  const body = encoder.encode(canonicalJson(offer))
  const signature = await privateKey.sign(signedBytes(body))
  const signed = { offer, signature }
  encodeOffer(signed) // size check
  return signed
}

export function encodeOffer(signed: SignedOffer): Uint8Array {
  const body = encoder.encode(canonicalJson(signed.offer))
  const out = new Uint8Array(HEADER_BYTES + body.length + signed.signature.length)
  if (out.length > MAX_OFFER_BYTES || body.length > 0xffff) {
    throw new OfferError(ERR.OFFER_TOO_LARGE, `offer is ${out.length} bytes, the limit is ${MAX_OFFER_BYTES}`)
  }
  out.set(MAGIC, 0)
  new DataView(out.buffer).setUint16(MAGIC.length, body.length)
  out.set(body, HEADER_BYTES)
  out.set(signed.signature, HEADER_BYTES + body.length)
  return out
}

/**
 * Parse an encoded offer and check its shape; does not check the signature or
 * expiry (see verifyOffer). Throws only OfferError.
 */
export function decodeOffer(bytes: Uint8Array): SignedOffer {
  return decodeFrame(bytes).signed
}

/**
 * Check that `signed` was signed by the peer it names and is valid at `nowMs`.
 * Throws OfferError (ERR_OFFER_UNSUPPORTED_KEY, ERR_OFFER_BAD_SIGNATURE, ERR_OFFER_EXPIRED, ERR_OFFER_NOT_YET_VALID).
 */
export async function verifyOffer(signed: SignedOffer, nowMs: number): Promise<void> {
  const body = encoder.encode(canonicalJson(signed.offer))
  await verifySignature(signed.offer, body, signed.signature)
  checkTime(signed.offer, nowMs)
}

/**
 * Full check of a DHT record: size, format, that the key names the signer,
 * signature, and time. Returns the offer; throws only OfferError.
 */
export async function validateOfferRecord(
  key: Uint8Array,
  value: Uint8Array,
  nowMs: number,
): Promise<SignedOffer> {
  const keyPeer = peerIdFromOfferKey(key)
  const { signed, body } = decodeFrame(value)
  if (signed.offer.peerId !== keyPeer.toString()) {
    throw new OfferError(
      ERR.OFFER_KEY_MISMATCH,
      `offer signed by ${signed.offer.peerId} stored under the key of ${keyPeer}`,
    )
  }
  await verifySignature(signed.offer, body, signed.signature)
  checkTime(signed.offer, nowMs)
  return signed
}

/** The DHT key of a peer's offer: '/bwoffer/' + the peer id's multihash bytes. */
export function offerKey(peerId: PeerId): Uint8Array {
  const id = peerId.toMultihash().bytes
  const key = new Uint8Array(KEY_PREFIX.length + id.length)
  key.set(KEY_PREFIX, 0)
  key.set(id, KEY_PREFIX.length)
  return key
}

/** The peer an offer key belongs to. Throws OfferError(ERR.OFFER_BAD_KEY) for anything else. */
export function peerIdFromOfferKey(key: Uint8Array): PeerId {
  const prefixOk = key.length > KEY_PREFIX.length && KEY_PREFIX.every((b, i) => key[i] === b)
  if (!prefixOk) throw new OfferError(ERR.OFFER_BAD_KEY, `not a /${OFFER_NAMESPACE}/ key`)
  try {
    return peerIdFromMultihash(Digest.decode(key.subarray(KEY_PREFIX.length)))
  } catch {
    throw new OfferError(ERR.OFFER_BAD_KEY, 'offer key does not hold a peer id')
  }
}

function signedBytes(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DOMAIN.length + body.length)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.length)
  return out
}

function decodeFrame(bytes: Uint8Array): { signed: SignedOffer; body: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new OfferError(ERR.OFFER_MALFORMED, 'offer must be bytes')
  if (bytes.length > MAX_OFFER_BYTES) {
    throw new OfferError(
      ERR.OFFER_TOO_LARGE,
      `offer is ${bytes.length} bytes, the limit is ${MAX_OFFER_BYTES}`,
    )
  }
  if (bytes.length < HEADER_BYTES || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new OfferError(ERR.OFFER_MALFORMED, 'not a bwnode offer (bad magic)')
  }
  const bodyLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(MAGIC.length)
  const body = bytes.subarray(HEADER_BYTES, HEADER_BYTES + bodyLength)
  const signature = bytes.slice(HEADER_BYTES + bodyLength)
  if (body.length !== bodyLength) throw new OfferError(ERR.OFFER_MALFORMED, 'offer body is truncated')
  if (signature.length === 0) throw new OfferError(ERR.OFFER_MALFORMED, 'offer is unsigned')
  if (signature.length > MAX_OFFER_SIGNATURE_BYTES) {
    throw new OfferError(ERR.OFFER_MALFORMED, `offer signature is ${signature.length} bytes`)
  }
  let text: string
  let json: unknown
  try {
    text = decoder.decode(body)
    json = JSON.parse(text)
  } catch {
    throw new OfferError(ERR.OFFER_MALFORMED, 'offer body is not UTF-8 JSON')
  }
  const parsed = offerSchema.safeParse(json)
  if (!parsed.success)
    throw new OfferError(ERR.OFFER_MALFORMED, `offer body is invalid: ${parsed.error.issues[0]?.message}`)
  const offer: BandwidthOffer = parsed.data
  if (canonicalJson(offer) !== text)
    throw new OfferError(ERR.OFFER_MALFORMED, 'offer body is not canonical JSON')
  checkOffer(offer)
  return { signed: { offer, signature }, body }
}

/** Rules beyond the schema: addresses parse, the lifetime is positive and bounded. */
function checkOffer(offer: BandwidthOffer): void {
  const parsed = offerSchema.safeParse(offer)
  if (!parsed.success)
    throw new OfferError(ERR.OFFER_MALFORMED, `offer is invalid: ${parsed.error.issues[0]?.message}`)
  if (offer.expiresAt <= offer.issuedAt || offer.expiresAt - offer.issuedAt > MAX_OFFER_LIFETIME_MS) {
    throw new OfferError(
      ERR.OFFER_MALFORMED,
      `offer lifetime must be within (0, ${MAX_OFFER_LIFETIME_MS}] ms`,
    )
  }
  for (const addr of offer.addrs) {
    try {
      multiaddr(addr)
    } catch {
      throw new OfferError(ERR.OFFER_MALFORMED, `offer lists an invalid multiaddr: ${addr.slice(0, 64)}`)
    }
  }
}

async function verifySignature(
  offer: BandwidthOffer,
  body: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  let publicKey: ReturnType<typeof peerIdFromString>['publicKey']
  try {
    publicKey = peerIdFromString(offer.peerId).publicKey
  } catch {
    throw new OfferError(ERR.OFFER_MALFORMED, 'offer peerId is not a peer id')
  }
  if (publicKey === undefined) {
    throw new OfferError(ERR.OFFER_UNSUPPORTED_KEY, 'offer peer id does not embed its public key (RSA?)')
  }
  let ok = false
  try {
    ok = await publicKey.verify(signedBytes(body), signature)
  } catch {
    ok = false
  }
  if (!ok)
    throw new OfferError(ERR.OFFER_BAD_SIGNATURE, `offer signature does not verify for ${offer.peerId}`)
}

function checkTime(offer: BandwidthOffer, nowMs: number): void {
  if (offer.expiresAt <= nowMs)
    throw new OfferError(ERR.OFFER_EXPIRED, `offer of ${offer.peerId} has expired`)
  if (offer.issuedAt > nowMs + MAX_OFFER_CLOCK_SKEW_MS) {
    throw new OfferError(ERR.OFFER_NOT_YET_VALID, `offer of ${offer.peerId} is issued in the future`)
  }
}
