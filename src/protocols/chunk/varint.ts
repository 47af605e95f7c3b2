import { ProtocolError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'

/** Most bytes an unsigned varint may take here: 8 bytes cover every safe integer (2^53 - 1). */
export const MAX_VARINT_BYTES = 8

/** Bytes the unsigned LEB128 encoding of `value` takes. */
export function varintLength(value: number): number {
  let n = 1
  let v = value
  while (v >= 0x80) {
    v = Math.floor(v / 0x80)
    n++
  }
  return n
}

/** Writes `value` (a non-negative safe integer) at `offset`; returns the offset after it. */
export function writeVarint(value: number, out: Uint8Array, offset: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
  let v = value
  let o = offset
  while (v >= 0x80) {
    out[o++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  out[o++] = v
  return o
}

export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintLength(value))
  writeVarint(value, out, 0)
  return out
}

export interface DecodedVarint {
  value: number
  /** Bytes the varint took. */
  size: number
}

/**
 * Reads a varint from `buf` at `offset`. Returns undefined when `buf` ends before the varint
 * does; throws a ProtocolError when it is longer than `maxBytes` or not minimally encoded.
 */
export function readVarint(
  buf: Uint8Array,
  offset: number,
  maxBytes = MAX_VARINT_BYTES,
): DecodedVarint | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < maxBytes; i++) {
    const pos = offset + i
    if (pos >= buf.length) return undefined
    const byte = buf[pos] as number
    value += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) {
      // A trailing zero byte means the same value had a shorter encoding: refuse it so every
      // value has exactly one encoding.
      if (byte === 0 && i > 0) {
        throw new ProtocolError(ChunkErrorCode.BAD_FRAME, 'varint is not minimally encoded')
      }
      if (!Number.isSafeInteger(value)) {
        throw new ProtocolError(ChunkErrorCode.BAD_FRAME, 'varint exceeds safe integer range')
      }
      return { value, size: i + 1 }
    }
    scale *= 0x80
  }
  throw new ProtocolError(ChunkErrorCode.BAD_FRAME, `varint longer than ${maxBytes} bytes`)
}
