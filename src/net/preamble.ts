import type { AbortOptions, MessageStream } from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'
import { ERR } from '../errors/codes.ts'
import { ConfigError, ProtocolError } from '../errors/index.ts'
import { DEFAULT_PREAMBLE_TIMEOUT_MS } from './constants.ts'
import { type ResolvedLink, resolveLink } from './link.ts'

/**
 * Wire format, sent by both ends on every raw connection before anything else:
 *   magic 'BWLK' (4) | version (1) | body length (1) | body
 * Version 1 body: six float64 big-endian values (48 bytes):
 *   accessLatencyMs, uplinkMbps, downlinkMbps, position.x, position.y, routeInflation
 * Infinity is a valid rate (unlimited), which is why the body is binary and not JSON.
 */
export const PREAMBLE_MAGIC = Uint8Array.from([0x42, 0x57, 0x4c, 0x4b])
export const PREAMBLE_VERSION = 1
const HEADER_LENGTH = PREAMBLE_MAGIC.byteLength + 2
const BODY_LENGTH_V1 = 6 * 8
/** Bytes we are willing to buffer while reading a preamble (header + body + read-ahead). */
const MAX_PREAMBLE_BUFFER_BYTES = 64 * 1024

export function encodePreamble(link: ResolvedLink): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + BODY_LENGTH_V1)
  out.set(PREAMBLE_MAGIC, 0)
  out[4] = PREAMBLE_VERSION
  out[5] = BODY_LENGTH_V1
  const view = new DataView(out.buffer, HEADER_LENGTH)
  const values = [
    link.accessLatencyMs,
    link.uplinkMbps,
    link.downlinkMbps,
    link.position.x,
    link.position.y,
    link.routeInflation,
  ]
  values.forEach((value, i) => {
    view.setFloat64(i * 8, value)
  })
  return out
}

/** Check the 6-byte header and return the body length it announces. */
export function decodePreambleHeader(header: Uint8Array): number {
  for (let i = 0; i < PREAMBLE_MAGIC.byteLength; i++) {
    if (header[i] !== PREAMBLE_MAGIC[i]) {
      throw new ProtocolError(
        ERR.LINK_PREAMBLE_MAGIC,
        'peer did not send a link-emulation preamble (is the emulator enabled on both ends?)',
      )
    }
  }
  const version = header[4]
  if (version !== PREAMBLE_VERSION) {
    throw new ProtocolError(ERR.LINK_PREAMBLE_VERSION, `unsupported link preamble version ${version}`)
  }
  const bodyLength = header[5]
  if (bodyLength !== BODY_LENGTH_V1) {
    throw new ProtocolError(
      ERR.LINK_PREAMBLE_LENGTH,
      `link preamble body is ${bodyLength} bytes, expected ${BODY_LENGTH_V1}`,
    )
  }
  return bodyLength
}

export function decodePreambleBody(body: Uint8Array): ResolvedLink {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const value = (i: number): number => view.getFloat64(i * 8)
  try {
    return resolveLink({
      accessLatencyMs: value(0),
      uplinkMbps: value(1),
      downlinkMbps: value(2),
      position: { x: value(3), y: value(4) },
      routeInflation: value(5),
    })
  } catch (err) {
    if (err instanceof ConfigError) throw new ProtocolError(ERR.LINK_PREAMBLE_INVALID, err.message)
    throw err
  }
}

export interface PreambleOptions extends AbortOptions {
  timeoutMs?: number
}

/**
 * Send our link and read the peer's on a raw connection. Both ends write first, then read, so
 * the exchange costs one one-way trip, not a round trip. Bytes the peer sent after its
 * preamble are pushed back onto the stream for the next layer. On garbage, EOF or timeout the
 * connection is aborted and a ProtocolError is thrown.
 */
export async function exchangePreamble(
  stream: MessageStream,
  local: ResolvedLink,
  options: PreambleOptions = {},
): Promise<ResolvedLink> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_PREAMBLE_TIMEOUT_MS)
  const signal = options.signal == null ? timeout : AbortSignal.any([timeout, options.signal])
  const bytes = byteStream(stream, { maxBufferSize: MAX_PREAMBLE_BUFFER_BYTES })
  try {
    await bytes.write(encodePreamble(local), { signal })
    const bodyLength = decodePreambleHeader((await bytes.read({ bytes: HEADER_LENGTH, signal })).subarray())
    const remote = decodePreambleBody((await bytes.read({ bytes: bodyLength, signal })).subarray())
    bytes.unwrap()
    return remote
  } catch (err) {
    const failure = toPreambleError(err, timeout)
    stream.abort(failure)
    throw failure
  }
}

function toPreambleError(err: unknown, timeout: AbortSignal): Error {
  if (err instanceof ProtocolError) return err
  if (timeout.aborted)
    return new ProtocolError(ERR.LINK_PREAMBLE_TIMEOUT, 'peer did not send its link preamble in time')
  const name = err instanceof Error ? err.name : ''
  if (name === 'UnexpectedEOFError') {
    return new ProtocolError(ERR.LINK_PREAMBLE_EOF, 'connection closed during the link preamble')
  }
  return err instanceof Error ? err : new Error(String(err))
}
