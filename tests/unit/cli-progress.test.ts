import { describe, expect, it } from 'vitest'
import { addSnapshot } from '../../src/cli/commands/datasets.ts'
import { fetchSnapshot } from '../../src/cli/commands/fetch.ts'
import {
  createProgress,
  describeProgress,
  type ProgressSnapshot,
  progressLine,
  resolveProgressMode,
} from '../../src/cli/progress.ts'
import { formatDuration } from '../../src/util/format.ts'

/** What a progress display writes, as text, with a clock the test moves. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let written = ''
  const stream = {
    isTTY,
    columns: 160,
    write(chunk: string) {
      written += chunk
      return true
    },
    on() {
      return stream
    },
    removeListener() {
      return stream
    },
  }
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => written }
}

const MB = 1_000_000
const snap = (doneBytes: number, totalBytes: number | null, bytesPerSec: number): ProgressSnapshot => ({
  doneBytes,
  totalBytes,
  bytesPerSec,
  detail: '2 peers',
})

describe('progress figures', () => {
  it('says "?" for an unknown total and "–" for an unknown rate or ETA, never NaN, Infinity or "of 1"', () => {
    expect(describeProgress(snap(0, null, 0))).toMatchObject({
      percent: '?%',
      total: '?',
      rate: '–',
      eta: '–',
    })
    expect(describeProgress(snap(0, 12 * MB, 0))).toMatchObject({ percent: '0%', total: '12 MB', eta: '–' })
    const line = progressLine(snap(3 * MB, 12 * MB, 1.5 * MB))
    expect(line).toBe('3 MB of 12 MB (25%), 1.5 MB/s, ETA 6 s, 2 peers')
    for (const s of [snap(0, null, 0), snap(5, 0, 0), snap(2 ** 20, 12_000_000, 0)]) {
      expect(progressLine(s)).not.toMatch(/NaN|Infinity|NF|\/1\b|MiB/)
    }
    // One base: a MiB-sized chunk of a 12 MB dataset prints in SI on both sides.
    expect(progressLine(snap(2 ** 20, 12_000_000, 2 ** 20))).toMatch(/^1\.05 MB of 12 MB \(8%\)/)
    expect(describeProgress(snap(10, 0, 0)).percent).toBe('100%')
  })

  it('formats times left or taken in s, min, h and d', () => {
    expect(formatDuration(0)).toBe('0 s')
    expect(formatDuration(5.2)).toBe('6 s')
    expect(formatDuration(125)).toBe('2 min 05 s')
    expect(formatDuration(3725)).toBe('1 h 02 min')
    expect(formatDuration(3 * 86_400 + 4 * 3600 + 5)).toBe('3 d 04 h')
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('–')
    expect(formatDuration(Number.NaN)).toBe('–')
  })

  it('reads a transfer and an add, also before their totals are known', () => {
    expect(fetchSnapshot(null)).toMatchObject({ totalBytes: null, detail: 'finding providers' })
    expect(
      fetchSnapshot({
        cid: 'c',
        name: 'n',
        totalBytes: 10,
        doneBytes: 4,
        totalChunks: 2,
        doneChunks: 1,
        resumedChunks: 0,
        activeProviders: 1,
        bytesPerSec: 2,
      }),
    ).toMatchObject({ doneBytes: 4, totalBytes: 10, detail: '1 peer', fields: { doneChunks: 1 } })
    expect(addSnapshot(null)).toMatchObject({ totalBytes: null, detail: 'waiting for the store' })
    expect(
      addSnapshot({ name: 'd', totalBytes: 9, doneBytes: 3, totalFiles: 3, doneFiles: 1, bytesPerSec: 1 }),
    ).toMatchObject({ detail: '1 of 3 files', fields: { totalFiles: 3 } })
  })

  it('auto is a bar on a terminal, plain lines elsewhere, nothing with --json', () => {
    expect(resolveProgressMode('auto', false, true)).toBe('bar')
    expect(resolveProgressMode('auto', false, false)).toBe('plain')
    expect(resolveProgressMode('auto', true, true)).toBe('none')
    expect(resolveProgressMode('json', true, false)).toBe('json')
  })
})

describe('progress displays', () => {
  it('json: one event per line, progress at most every 0.5 s, then done', async () => {
    const { stream, text } = fakeStream(false)
    let now = 1000
    const progress = await createProgress({
      mode: 'json',
      json: false,
      command: 'fetch',
      subject: 'cid',
      stream,
      now: () => now,
    })
    progress.update(snap(0, null, 0))
    now += 100
    progress.update(snap(1, 10, 1)) // too soon: dropped
    now += 500
    progress.update(snap(5, 10, 1))
    progress.done(snap(10, 10, 1), { cid: 'cid' })
    const events = text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(events.map((e) => e.event)).toEqual(['progress', 'progress', 'progress', 'done'])
    expect(events[0]).toMatchObject({ command: 'fetch', time: 1000, totalBytes: null, etaSeconds: null })
    expect(events[1]).toMatchObject({ doneBytes: 5, totalBytes: 10, bytesPerSec: 1, etaSeconds: 5 })
    expect(events[3]).toEqual({ event: 'done', command: 'fetch', time: 1600, result: { cid: 'cid' } })
  })

  it('json: a failure is an error event, and stderr carries nothing else', async () => {
    const { stream, text } = fakeStream(false)
    const progress = await createProgress({ mode: 'json', json: false, command: 'add', subject: 'p', stream })
    const { BwnodeError } = await import('../../src/errors/index.ts')
    const code = progress.fail(new BwnodeError('ERR_NOT_FOUND', '/x: no such file or directory'), false)
    expect(code).toBe(1)
    expect(JSON.parse(text())).toMatchObject({
      event: 'error',
      command: 'add',
      error: { code: 'ERR_NOT_FOUND', message: '/x: no such file or directory' },
    })
  })

  it('plain: a line every 2 s and one at the end', async () => {
    const { stream, text } = fakeStream(false)
    let now = 0
    const progress = await createProgress({
      mode: 'plain',
      json: false,
      command: 'add',
      subject: 'data/',
      stream,
      now: () => now,
    })
    for (let t = 0; t <= 4500; t += 250) {
      now = t
      progress.update(snap(t * 1000, 5 * MB, MB))
    }
    now = 5000
    progress.done(snap(5 * MB, 5 * MB, MB), {})
    expect(text().trimEnd().split('\n')).toEqual([
      'add data/: 2 MB of 5 MB (40%), 1 MB/s, ETA 3 s, 2 peers',
      'add data/: 4 MB of 5 MB (80%), 1 MB/s, ETA 1 s, 2 peers',
      'add data/: 5 MB of 5 MB (100%) in 5.0 s, 2 peers',
    ])
  })

  it('bar: our own figures, no "NFs", no raw numbers', async () => {
    const { stream, text } = fakeStream(true)
    const progress = await createProgress({
      mode: 'bar',
      json: false,
      command: 'fetch',
      subject: 'c',
      stream,
    })
    progress.update(snap(0, null, 0))
    progress.update(snap(2 ** 20, 12_000_000, 0))
    progress.done(snap(12_000_000, 12_000_000, 3 * MB), {})
    const shown = text()
    expect(shown).toContain('| 12 MB of 12 MB | 3 MB/s | ETA 0 s | 2 peers')
    expect(shown).toContain('100%')
    expect(shown).not.toMatch(/NFs|NaN|12000000|\/1\b|MiB/)
  })
})
