/**
 * Progress of a long command (`fetch`, `add`) for people and programs, on stderr so that stdout
 * keeps the result alone (`--json` stays one JSON document):
 * - `bar`: a redrawn bar (cli-progress, loaded only when drawn);
 * - `plain`: a line every 2 s and one at the end, for logs and pipes;
 * - `json`: NDJSON, one event object per line: `progress` (at most every 0.5 s, and the last one),
 *   then `done` or `error`; stderr then carries nothing else;
 * - `none`; `auto` (the default) is a bar on a terminal, plain lines otherwise, none with --json.
 * Sizes and rates print in SI (util/format.ts); an unknown total or rate prints as '?' or '–'.
 */
import { Option } from 'commander'
import { errorCode, errorMessage } from '../errors/index.ts'
import { formatBytes, formatDuration, formatRate } from '../util/format.ts'
import { exitCodeFor, reportError } from './output.ts'

export const PROGRESS_MODES = ['auto', 'bar', 'plain', 'json', 'none'] as const
export type ProgressMode = (typeof PROGRESS_MODES)[number]

/** Seconds between plain lines, and the least between two JSON progress events. */
export const PLAIN_INTERVAL_MS = 2000
export const JSON_INTERVAL_MS = 500

export function progressOption(): Option {
  return new Option(
    '--progress <mode>',
    'progress on stderr: auto (a bar on a terminal, a line every 2 s otherwise, none with --json), bar, plain, json (NDJSON events), none',
  )
    .choices(PROGRESS_MODES)
    .default('auto')
}

/** One reading of a job, in bytes. */
export interface ProgressSnapshot {
  doneBytes: number
  /** null while unknown (a fetch before its manifest) */
  totalBytes: number | null
  bytesPerSec: number
  /** what else to say: "3 peers", "2 of 5 files" */
  detail: string
  /** the job's own fields, carried in JSON events as they are */
  fields?: Record<string, unknown>
}

/** The figures of a snapshot as people read them. */
export function describeProgress(snapshot: ProgressSnapshot): {
  percent: string
  done: string
  total: string
  rate: string
  eta: string
  etaSeconds: number | null
} {
  const { doneBytes, totalBytes, bytesPerSec } = snapshot
  const fraction =
    totalBytes === null ? null : totalBytes === 0 ? 1 : Math.min(1, Math.max(0, doneBytes / totalBytes))
  const etaSeconds =
    totalBytes === null || bytesPerSec <= 0 ? null : Math.max(0, totalBytes - doneBytes) / bytesPerSec
  return {
    percent: fraction === null ? '?%' : `${Math.floor(fraction * 100)}%`,
    done: formatBytes(doneBytes),
    total: totalBytes === null ? '?' : formatBytes(totalBytes),
    rate: bytesPerSec > 0 ? formatRate(bytesPerSec) : '–',
    eta: etaSeconds === null ? '–' : formatDuration(etaSeconds),
    etaSeconds,
  }
}

/** "12.3 MB of 50 MB (24%), 5.2 MB/s, ETA 8 s, 3 peers" */
export function progressLine(snapshot: ProgressSnapshot): string {
  const d = describeProgress(snapshot)
  return `${d.done} of ${d.total} (${d.percent}), ${d.rate}, ETA ${d.eta}${snapshot.detail ? `, ${snapshot.detail}` : ''}`
}

export interface ProgressReporter {
  readonly mode: Exclude<ProgressMode, 'auto'>
  update(snapshot: ProgressSnapshot): void
  /** The job finished: the last reading, and what it produced (JSON `done` event). */
  done(snapshot: ProgressSnapshot | undefined, result: unknown): void
  /**
   * The job failed: prints the error (JSON `error` event in json mode, else as every command does)
   * and returns the exit code.
   */
  fail(err: unknown, json: boolean): number
}

export interface ProgressInit {
  mode: ProgressMode
  /** `--json` given: `auto` then draws nothing */
  json: boolean
  /** "fetch", "add": the command, first word of plain lines and `command` of JSON events */
  command: string
  /** what the job is about: a CID, a path */
  subject: string
  stream?: NodeJS.WriteStream
  now?: () => number
}

export function resolveProgressMode(
  mode: ProgressMode,
  json: boolean,
  isTTY: boolean,
): ProgressReporter['mode'] {
  if (mode !== 'auto') return mode
  if (json) return 'none'
  return isTTY ? 'bar' : 'plain'
}

export async function createProgress(init: ProgressInit): Promise<ProgressReporter> {
  const stream = init.stream ?? process.stderr
  const now = init.now ?? Date.now
  const mode = resolveProgressMode(init.mode, init.json, stream.isTTY === true)
  const failPlainly = (err: unknown, json: boolean): number => reportError(err, json)
  if (mode === 'none') return { mode, update: () => {}, done: () => {}, fail: failPlainly }
  if (mode === 'json') return jsonReporter(init, stream, now)
  if (mode === 'plain') return plainReporter(init, stream, now)
  return barReporter(init, stream)
}

function jsonReporter(init: ProgressInit, stream: NodeJS.WriteStream, now: () => number): ProgressReporter {
  let last = Number.NEGATIVE_INFINITY
  const write = (event: Record<string, unknown>): void => {
    stream.write(`${JSON.stringify({ event: event.event, command: init.command, time: now(), ...event })}\n`)
  }
  const progress = (snapshot: ProgressSnapshot): void => {
    last = now()
    const { etaSeconds } = describeProgress(snapshot)
    write({
      event: 'progress',
      doneBytes: snapshot.doneBytes,
      totalBytes: snapshot.totalBytes,
      bytesPerSec: snapshot.bytesPerSec,
      etaSeconds,
      ...snapshot.fields,
    })
  }
  return {
    mode: 'json',
    update: (snapshot) => {
      if (now() - last >= JSON_INTERVAL_MS) progress(snapshot)
    },
    done: (snapshot, result) => {
      if (snapshot !== undefined) progress(snapshot)
      write({ event: 'done', result })
    },
    fail: (err, json) => {
      write({ event: 'error', error: { code: errorCode(err), message: errorMessage(err) } })
      // stderr carries events only; --json still gets its error object on stdout.
      if (json) return reportError(err, true)
      return exitCodeFor(err)
    },
  }
}

function plainReporter(init: ProgressInit, stream: NodeJS.WriteStream, now: () => number): ProgressReporter {
  const started = now()
  let last = started
  const line = (text: string): void => {
    stream.write(`${init.command} ${init.subject}: ${text}\n`)
  }
  return {
    mode: 'plain',
    update: (snapshot) => {
      if (now() - last < PLAIN_INTERVAL_MS) return
      last = now()
      line(progressLine(snapshot))
    },
    done: (snapshot) => {
      if (snapshot === undefined) return
      const d = describeProgress(snapshot)
      const seconds = (now() - started) / 1000
      line(
        `${d.done} of ${d.total} (${d.percent}) in ${seconds.toFixed(1)} s${snapshot.detail ? `, ${snapshot.detail}` : ''}`,
      )
    },
    fail: (err, json) => reportError(err, json),
  }
}

async function barReporter(init: ProgressInit, stream: NodeJS.WriteStream): Promise<ProgressReporter> {
  const { SingleBar } = await import('cli-progress')
  const bar = new SingleBar({
    // Every figure is ours, under names cli-progress does not claim: its own {value}, {total}
    // and {eta_formatted} win over a payload's, are raw numbers, and its ETA prints "NFs" while
    // the rate is unknown.
    format: ` ${init.command} {bar} {percent} | {done} of {size} | {speed} | ETA {left} | {detail}`,
    hideCursor: true,
    stream,
    // Drawn off a terminal too when asked for (--progress bar): one line per redraw.
    noTTYOutput: true,
    notTTYSchedule: PLAIN_INTERVAL_MS,
  })
  let started = false
  const payload = (snapshot: ProgressSnapshot) => {
    const { percent, done, total, rate, eta } = describeProgress(snapshot)
    return { percent, done, size: total, speed: rate, left: eta, detail: snapshot.detail }
  }
  const draw = (snapshot: ProgressSnapshot): void => {
    // Until the total is known the bar stays empty (0 of 1), never "of 1".
    const total = snapshot.totalBytes === null ? 1 : Math.max(1, snapshot.totalBytes)
    const value = snapshot.totalBytes === null ? 0 : Math.min(snapshot.doneBytes, total)
    if (!started) {
      started = true
      bar.start(total, value, payload(snapshot))
      return
    }
    bar.setTotal(total)
    bar.update(value, payload(snapshot))
  }
  const stop = (): void => {
    if (started) bar.stop()
  }
  return {
    mode: 'bar',
    update: draw,
    done: (snapshot) => {
      if (snapshot !== undefined) draw(snapshot)
      stop()
    },
    fail: (err, json) => {
      stop()
      return reportError(err, json)
    },
  }
}

/**
 * Polls a job until it leaves 'running', showing each reading: quickly at first (a small add
 * is done in a few tens of ms), then every 200 ms. `check` runs before each wait and may throw
 * (a deadline). Returns the finished job and its last reading.
 */
export async function followJob<T extends { state: string }>(
  job: T,
  next: () => Promise<T>,
  options: {
    progress: ProgressReporter
    snapshot: (job: T) => ProgressSnapshot
    check?: () => Promise<void>
  },
): Promise<{ job: T; last: ProgressSnapshot }> {
  let current = job
  let last = options.snapshot(current)
  let waitMs = 25
  options.progress.update(last)
  while (current.state === 'running') {
    await options.check?.()
    await new Promise((resolve) => setTimeout(resolve, waitMs))
    waitMs = Math.min(200, waitMs * 2)
    current = await next()
    last = options.snapshot(current)
    options.progress.update(last)
  }
  return { job: current, last }
}
