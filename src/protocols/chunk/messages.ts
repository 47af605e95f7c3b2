import { CID } from 'multiformats/cid'
import type { ErrorCode } from '../../errors/codes.ts'
import { ProtocolError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'
import { MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES } from './constants.ts'
import { readVarint, varintLength, writeVarint } from './varint.ts'

/**
 * Message type byte, the first byte of every frame body. Requests have the high bit clear,
 * responses have it set. See docs/PROTOCOL.md for the layout of each.
 */
export const MessageType = {
  GET: 0x01,
  HAVE: 0x02,
  MANIFEST: 0x03,
  PAY: 0x04,
  /** Withdraws an earlier GET or MANIFEST (same request id); never answered itself. */
  CANCEL: 0x05,
  CHUNK: 0x81,
  HAVE_REPLY: 0x82,
  MANIFEST_REPLY: 0x83,
  PAY_ACK: 0x84,
  ERROR: 0xff,
} as const

/** Request id 0 is reserved for errors about the whole stream (busy, dropped peer). */
export const STREAM_REQUEST_ID = 0

export type Request =
  | { type: 'get'; id: number; cid: CID }
  | { type: 'have'; id: number; cid: CID }
  | { type: 'manifest'; id: number; cid: CID }
  | { type: 'pay'; id: number; voucher: Uint8Array }
  /** `id` is the id of the request withdrawn. */
  | { type: 'cancel'; id: number }

export type Response =
  | { type: 'chunk'; id: number; bytes: Uint8Array }
  | { type: 'have-reply'; id: number; pricePerGiB: number; bitfield: Uint8Array }
  | { type: 'manifest-reply'; id: number; bytes: Uint8Array }
  | { type: 'pay-ack'; id: number }
  | { type: 'error'; id: number; code: string; message: string }

const ERROR_CODE_PATTERN = /^[A-Z0-9_]+$/
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: false })

/**
 * Builds a whole frame (length prefix, type byte, request id varint, fixed fields) followed by
 * `payload`. The frame is returned as [header, payload] so a multi-MiB payload is handed to the
 * stream without being copied.
 */
function frameParts(
  type: number,
  id: number,
  fixed: Uint8Array | undefined,
  payload: Uint8Array,
): Uint8Array[] {
  const fixedBytes = fixed?.length ?? 0
  const bodyLength = 1 + varintLength(id) + fixedBytes + payload.length
  const header = new Uint8Array(varintLength(bodyLength) + 1 + varintLength(id) + fixedBytes)
  let offset = writeVarint(bodyLength, header, 0)
  header[offset++] = type
  offset = writeVarint(id, header, offset)
  if (fixed !== undefined) header.set(fixed, offset)
  return payload.length === 0 ? [header] : [header, payload]
}

/** Joins frame parts into one buffer (for small frames, where one send() is simpler). */
export function concatParts(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array
  const total = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export function encodeRequest(req: Request): Uint8Array[] {
  switch (req.type) {
    case 'get':
      return frameParts(MessageType.GET, req.id, undefined, req.cid.bytes)
    case 'have':
      return frameParts(MessageType.HAVE, req.id, undefined, req.cid.bytes)
    case 'manifest':
      return frameParts(MessageType.MANIFEST, req.id, undefined, req.cid.bytes)
    case 'pay':
      return frameParts(MessageType.PAY, req.id, undefined, req.voucher)
    case 'cancel':
      return frameParts(MessageType.CANCEL, req.id, undefined, new Uint8Array(0))
  }
}

export function encodeResponse(res: Response): Uint8Array[] {
  switch (res.type) {
    case 'chunk':
      return frameParts(MessageType.CHUNK, res.id, undefined, res.bytes)
    case 'manifest-reply':
      return frameParts(MessageType.MANIFEST_REPLY, res.id, undefined, res.bytes)
    case 'have-reply': {
      const price = new Uint8Array(8)
      new DataView(price.buffer).setFloat64(0, res.pricePerGiB)
      return frameParts(MessageType.HAVE_REPLY, res.id, price, res.bitfield)
    }
    case 'pay-ack':
      return frameParts(MessageType.PAY_ACK, res.id, undefined, new Uint8Array(0))
    case 'error': {
      const code = sanitizeCode(res.code)
      const codeBytes = textEncoder.encode(code)
      const fixed = new Uint8Array(varintLength(codeBytes.length) + codeBytes.length)
      fixed.set(codeBytes, writeVarint(codeBytes.length, fixed, 0))
      return frameParts(MessageType.ERROR, res.id, fixed, truncateUtf8(res.message))
    }
  }
}

/** Codes go on the wire only in the documented shape; anything else becomes ERR_INTERNAL. */
function sanitizeCode(code: string): string {
  return code.length <= MAX_ERROR_CODE_BYTES && ERROR_CODE_PATTERN.test(code) ? code : ChunkErrorCode.INTERNAL
}

function truncateUtf8(message: string): Uint8Array {
  const bytes = textEncoder.encode(message)
  if (bytes.length <= MAX_ERROR_MESSAGE_BYTES) return bytes
  // Cutting may split a multi-byte character; the decoder replaces it, which is harmless.
  return bytes.subarray(0, MAX_ERROR_MESSAGE_BYTES)
}

interface Header {
  type: number
  id: number
  /** Offset of the first byte after the request id. */
  offset: number
}

function readHeader(body: Uint8Array, badCode: ErrorCode): Header {
  if (body.length < 2) throw new ProtocolError(badCode, 'frame too short for a header')
  const type = body[0] as number
  let id: ReturnType<typeof readVarint>
  try {
    id = readVarint(body, 1)
  } catch (err) {
    throw new ProtocolError(badCode, (err as Error).message)
  }
  if (id === undefined) throw new ProtocolError(badCode, 'truncated request id')
  return { type, id: id.value, offset: 1 + id.size }
}

function decodeCid(bytes: Uint8Array, badCode: ErrorCode): CID {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (err) {
    throw new ProtocolError(badCode, `invalid CID: ${(err as Error).message}`)
  }
  // CID.decode reads a version-0 prefix with any codec as a dag-pb CIDv0, i.e. a different CID
  // from the bytes sent; only the canonical byte form of a CID is a valid request.
  if (!equalBytes(cid.bytes, bytes)) throw new ProtocolError(badCode, 'CID is not in canonical form')
  return cid
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Parses a request frame body. Throws ProtocolError(ERR_BAD_REQUEST) on anything malformed. */
export function decodeRequest(body: Uint8Array): Request {
  const bad = ChunkErrorCode.BAD_REQUEST
  const { type, id, offset } = readHeader(body, bad)
  if (id === STREAM_REQUEST_ID) throw new ProtocolError(bad, 'request id 0 is reserved')
  const rest = body.subarray(offset)
  switch (type) {
    case MessageType.GET:
      return { type: 'get', id, cid: decodeCid(rest, bad) }
    case MessageType.HAVE:
      return { type: 'have', id, cid: decodeCid(rest, bad) }
    case MessageType.MANIFEST:
      return { type: 'manifest', id, cid: decodeCid(rest, bad) }
    case MessageType.PAY:
      if (rest.length === 0) throw new ProtocolError(bad, 'empty voucher')
      return { type: 'pay', id, voucher: rest }
    case MessageType.CANCEL:
      if (rest.length !== 0) throw new ProtocolError(bad, 'CANCEL carries no body')
      return { type: 'cancel', id }
    default:
      throw new ProtocolError(bad, `unknown request type 0x${type.toString(16)}`)
  }
}

/** Parses a response frame body. Throws ProtocolError(ERR_BAD_FRAME) on anything malformed. */
export function decodeResponse(body: Uint8Array): Response {
  const bad = ChunkErrorCode.BAD_FRAME
  const { type, id, offset } = readHeader(body, bad)
  const rest = body.subarray(offset)
  switch (type) {
    case MessageType.CHUNK:
      return { type: 'chunk', id, bytes: rest }
    case MessageType.MANIFEST_REPLY:
      return { type: 'manifest-reply', id, bytes: rest }
    case MessageType.HAVE_REPLY: {
      if (rest.length < 8) throw new ProtocolError(bad, 'HAVE_REPLY without a price')
      const pricePerGiB = new DataView(rest.buffer, rest.byteOffset, 8).getFloat64(0)
      if (!Number.isFinite(pricePerGiB) || pricePerGiB < 0) {
        throw new ProtocolError(bad, 'HAVE_REPLY price is not a non-negative number')
      }
      return { type: 'have-reply', id, pricePerGiB, bitfield: rest.subarray(8) }
    }
    case MessageType.PAY_ACK:
      if (rest.length !== 0) throw new ProtocolError(bad, 'PAY_ACK with trailing bytes')
      return { type: 'pay-ack', id }
    case MessageType.ERROR: {
      const len = readVarint(rest, 0, 2)
      if (len === undefined || len.value > MAX_ERROR_CODE_BYTES || rest.length < len.size + len.value) {
        throw new ProtocolError(bad, 'ERROR frame with a bad code length')
      }
      const code = textDecoder.decode(rest.subarray(len.size, len.size + len.value))
      if (!ERROR_CODE_PATTERN.test(code)) throw new ProtocolError(bad, 'ERROR frame with a bad code')
      const messageBytes = rest.subarray(len.size + len.value)
      if (messageBytes.length > MAX_ERROR_MESSAGE_BYTES) {
        throw new ProtocolError(bad, 'ERROR message too long')
      }
      return { type: 'error', id, code, message: textDecoder.decode(messageBytes) }
    }
    default:
      throw new ProtocolError(bad, `unknown response type 0x${type.toString(16)}`)
  }
}
