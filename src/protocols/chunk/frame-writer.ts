import type { MessageStream } from '@libp2p/interface'
import { ProtocolError } from '../../errors/index.ts'
import { ChunkErrorCode } from './codes.ts'

/**
 * Hands a frame's parts to the stream and, when the stream says its buffer is full, waits for
 * it to drain. A peer that stops reading never drains: after `drainTimeoutMs` this rejects with
 * ERR_DRAIN_TIMEOUT so the caller can abort the stream and free what it holds.
 *
 * Callers must not interleave two writeFrame calls on one stream (frames would mix).
 */
export async function writeFrame(
  stream: MessageStream,
  parts: Uint8Array[],
  drainTimeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  let writable = true
  for (const part of parts) writable = stream.send(part)
  if (writable) return
  const timeout = AbortSignal.timeout(drainTimeoutMs)
  const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
  try {
    await stream.onDrain({ signal: combined })
  } catch (err) {
    if (timeout.aborted) {
      throw new ProtocolError(ChunkErrorCode.DRAIN_TIMEOUT, `peer did not read for ${drainTimeoutMs} ms`)
    }
    throw err
  }
}
