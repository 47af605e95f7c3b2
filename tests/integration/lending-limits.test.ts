import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nextDayStart } from '../../src/lending/calendar.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'
import { ChunkSession } from '../../src/protocols/chunk/client.ts'
import { parseChunkCid, parseDatasetCid } from '../../src/store/cid.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import { randomDataset, type Swarm, settleTransfer, startSwarm, stopQuietly } from '../helpers/swarm.ts'

const CHUNK = 64 * 1024
/** The manifest (a few KiB) and five chunks fit; the sixth chunk would pass the cap. */
const DAILY_CAP = 5 * CHUNK + 8 * 1024

/** "HH:MM" in local time, `hours` from now: a schedule that is closed for the next two hours. */
function localTime(hours: number): string {
  const d = new Date(Date.now() + hours * 3_600_000)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

async function code(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => ({ code: 'none', message: '' }),
    (err: { code?: string; message?: string }) => ({
      code: err.code ?? 'unknown',
      message: err.message ?? '',
    }),
  )
}

/**
 * Three real nodes on 127.0.0.1: a consumer, a provider with a daily byte cap, and one whose
 * serving schedule is closed right now. The capped provider serves until its cap, then refuses
 * with ERR_LENDING_CLOSED, says so in its status and its offer, and still does after a restart;
 * a fetch from it fails with that code and the provider's reason.
 */
describe('lending limits between real nodes', () => {
  let swarm: Swarm
  let consumer: Bwnode
  let capped: Bwnode
  let night: Bwnode
  let cappedCid: string
  let nightCid: string
  let firstChunk: CID
  const schedule = [`${localTime(2)}-${localTime(3)}`]

  beforeAll(async () => {
    const work = await tempDir('bwnode-lending-')
    swarm = await startSwarm(3, (i) =>
      i === 1 ? { lending: { dailyCapBytes: DAILY_CAP } } : i === 2 ? { lending: { schedule } } : {},
    )
    consumer = swarm.nodes[0]!
    capped = swarm.nodes[1]!
    night = swarm.nodes[2]!
    // 16 chunks of 64 KiB: more than the cap lets out.
    const data = await randomDataset(work, 'capped', 1, 16 * CHUNK)
    const info = await capped.datasets.add(data, { chunkSize: CHUNK })
    cappedCid = info.cid
    const manifest = await capped.store.getManifest(parseDatasetCid(cappedCid))
    firstChunk = parseChunkCid(manifest!.files[0]!.chunks[0]!)
    nightCid = (
      await night.datasets.add(await randomDataset(work, 'night', 1, 4 * CHUNK), { chunkSize: CHUNK })
    ).cid
    await waitFor(async () => ((await capped.datasets.list()).every((d) => d.provided) ? true : undefined), {
      what: 'the capped dataset announced',
      intervalMs: 50,
    })
  })
  afterAll(async () => {
    await swarm?.stop()
  })

  it('a capped provider serves up to its cap, then the fetch fails with ERR_LENDING_CLOSED and why', async () => {
    expect(capped.queries.status().lending).toMatchObject({
      open: true,
      dailyCapBytes: DAILY_CAP,
      usedTodayBytes: 0,
    })
    const { id } = await consumer.datasets.startFetch(cappedCid, { seed: false })
    const transfer = await settleTransfer(consumer, id)
    expect(transfer.state).toBe('failed')
    expect(transfer.error?.code).toBe('ERR_LENDING_CLOSED')
    expect(transfer.error?.message).toContain(capped.peerId.toString())
    expect(transfer.error?.message).toMatch(
      /not lending now: 65\.5 kB \(65536 bytes\) more would pass the daily cap of 336 kB \(335872 bytes\)/,
    )
    expect(transfer.error?.message).toMatch(/open again at \d{4}-\d\d-\d\dT/)
    // Five chunks (and the manifest) came through before the refusal; never more than the cap.
    expect(await consumer.store.missingChunks(parseDatasetCid(cappedCid))).toHaveLength(16 - 5)
    const lending = capped.queries.status().lending
    expect(lending).toMatchObject({ open: false, reason: 'daily-cap', remainingBytes: 0 })
    expect(lending.usedTodayBytes).toBeGreaterThan(5 * CHUNK)
    expect(lending.usedTodayBytes).toBeLessThanOrEqual(DAILY_CAP)
    expect(lending.usedThisMonthBytes).toBe(lending.usedTodayBytes)
    expect(lending.until).toBe(nextDayStart(Date.now()))
  })

  it('the refusal is on the wire for HAVE and GET, and the stream stays usable', async () => {
    const session = await ChunkSession.open(consumer.libp2p, capped.peerId)
    try {
      const have = await code(session.have(parseDatasetCid(cappedCid)))
      expect(have.code).toBe('ERR_LENDING_CLOSED')
      expect(have.message).toMatch(/^not lending now: the daily cap of .* is used up/)
      expect((await code(session.get(firstChunk))).code).toBe('ERR_LENDING_CLOSED')
      // A dataset it does not hold is still "not found", not "closed".
      expect(await code(session.have(parseDatasetCid(nightCid))).then((r) => r.code)).toBe('ERR_NOT_FOUND')
    } finally {
      await session.close()
    }
  })

  it('its offer stops advertising: peers read lending closed until midnight', async () => {
    const offer = await waitFor(
      async () => {
        const found = await consumer.offers.fetch(capped.peerId, { signal: AbortSignal.timeout(5_000) })
        return found?.lending?.open === false ? found : undefined
      },
      { what: "the capped provider's closed offer", intervalMs: 200, timeoutMs: 20_000 },
    )
    expect(offer.lending).toEqual({ open: false, until: nextDayStart(Date.now()), remainingBytes: 0 })
    // A node without limits signs its offer without the field.
    expect((await consumer.offers.publish()).offer.lending).toBeUndefined()
  })

  it('the counters survive a restart: the restarted provider still refuses', async () => {
    const dataDir = capped.dataDir
    const used = capped.queries.status().lending.usedTodayBytes
    await stopQuietly(capped)
    capped = await swarm.add({ lending: { dailyCapBytes: DAILY_CAP } }, dataDir)
    expect(capped.queries.status().lending).toMatchObject({
      open: false,
      reason: 'daily-cap',
      usedTodayBytes: used,
    })
    const { id } = await consumer.datasets.startFetch(cappedCid, { seed: false })
    const transfer = await settleTransfer(consumer, id)
    expect(transfer.error?.code).toBe('ERR_LENDING_CLOSED')
    expect(transfer.error?.message).toMatch(/no provider of the chunks still needed is lending now/)
    expect(transfer.error?.message).toMatch(/the daily cap of 336 kB \(335872 bytes\) is used up/)
  })

  it('outside its schedule a node refuses the manifest, and the fetch says when it opens', async () => {
    expect(night.queries.status().lending).toMatchObject({ open: false, reason: 'schedule', schedule })
    const { id } = await consumer.datasets.startFetch(nightCid, { seed: false })
    const transfer = await settleTransfer(consumer, id)
    expect(transfer.error?.code).toBe('ERR_LENDING_CLOSED')
    expect(transfer.error?.message).toMatch(/no provider of the manifest is lending now/)
    expect(transfer.error?.message).toContain(`outside the serving schedule (${schedule[0]}, local time)`)
    const opens = new Date(night.queries.status().lending.until!)
    expect(
      `${String(opens.getHours()).padStart(2, '0')}:${String(opens.getMinutes()).padStart(2, '0')}`,
    ).toBe(schedule[0]!.slice(0, 5))
    expect(night.queries.status().lending.usedTodayBytes).toBe(0)
  })
})
