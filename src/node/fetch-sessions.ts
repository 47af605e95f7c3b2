import type { PeerId } from '@libp2p/interface'
import { errorCode } from '../errors/index.ts'
import type { ProviderSession } from '../fetch/types.ts'
import type { LatencyRecorder } from '../latency/recorder.ts'
import { type TransferSample, TransferSampler } from '../latency/sampler.ts'
import { ChunkErrorCode } from '../protocols/chunk/codes.ts'
import type { ChunkSessionPool } from '../protocols/chunk/session-pool.ts'
import type { BandwidthMeter } from './bandwidth.ts'
import type { NodeMetrics } from './metrics.ts'
import { type Payments, payingSession } from './payments.ts'

export interface FetchSessionParts {
  /** Chunk sessions kept warm between fetches. */
  pool: ChunkSessionPool
  latency: LatencyRecorder
  metrics: NodeMetrics
  bandwidth: BandwidthMeter
  payments: Payments
}

/**
 * The fetcher's sessions as this node gives them: a pooled chunk session whose chunks are
 * metered (metrics, bandwidth per peer and dataset), timed into the latency recorder (TTFB,
 * throughput, stream setup), paid for with vouchers as they arrive, and priced on HAVE.
 */
export async function openFetchSession(
  { pool, latency, metrics, bandwidth, payments }: FetchSessionParts,
  peer: PeerId,
  signal: AbortSignal,
  onTiming: (ttfbMs: number) => void,
  dataset: string | undefined,
): Promise<ProviderSession> {
  const setupStarted = performance.now()
  const sampler = new TransferSampler()
  const record = (sample: TransferSample | undefined): void => {
    if (sample === undefined) return
    void latency.recordTtfb(peer, sample.ttfbMs).catch(() => {})
    if (sample.seconds > 0 && sample.bytes > 0) {
      void latency.recordTransfer(peer, sample.bytes, sample.seconds).catch(() => {})
    }
  }
  const { session, fresh } = await pool.acquire(
    peer,
    {
      onChunk: (from, _cid, bytes, timing) => {
        onTiming(timing.ttfbMs)
        metrics.fetched(from.toString(), bytes.byteLength)
        bandwidth.received(from.toString(), dataset, bytes.byteLength)
        metrics.chunkLatency.observe(timing.totalMs / 1000)
        record(sampler.add(bytes.byteLength, timing.ttfbMs))
      },
      makeVoucher: (payee, bytes) => payments.voucherFor(payee, bytes),
    },
    signal,
  )
  // A pooled session was set up by an earlier fetch: only a new stream measures setup.
  if (fresh) void latency.recordConnectSetup(peer, performance.now() - setupStarted).catch(() => {})
  const countBadChunks: ProviderSession['get'] = async (cid, options) => {
    try {
      return await session.get(cid, options)
    } catch (err) {
      if (errorCode(err) === ChunkErrorCode.CHUNK_HASH_MISMATCH) metrics.badChunks.inc()
      throw err
    }
  }
  // released: kept for the next fetch from this peer (a warm stream), or closed if it cannot be
  return payingSession(
    session,
    payments,
    async () => {
      await pool.release(session)
      record(sampler.finish())
    },
    countBadChunks,
  )
}
