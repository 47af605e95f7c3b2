import { readFile } from 'node:fs/promises'
import { type ApiHandle, api, waitFor } from './daemon.ts'

/** True when the long variants should run (`npm run soak`). */
export const SOAK = process.env.BWNODE_SOAK === '1'

/** Jain's fairness index of non-negative values: 1 when all equal, 1/n when one takes all. */
export function jainIndex(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0)
  const squares = values.reduce((a, b) => a + b * b, 0)
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares)
}

/** Resident and peak resident memory of a process, in bytes, from /proc (Linux). */
export async function processMemory(pid: number): Promise<{ rssBytes: number; peakRssBytes: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)
    if (match === null) throw new Error(`no ${name} in /proc/${pid}/status`)
    return Number(match[1]) * 1024
  }
  return { rssBytes: field('VmRSS'), peakRssBytes: field('VmHWM') }
}

/** Resets the kernel's peak-RSS mark so VmHWM measures from now on (Linux >= 4.0). */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    const { writeFile } = await import('node:fs/promises')
    await writeFile(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** Waits until the daemon behind `handle` has announced `cid` on the DHT (`provided`). */
export async function waitForAnnounced(handle: ApiHandle, cid: string, what: string): Promise<void> {
  await waitFor(
    async () =>
      (await api<Array<{ cid: string; provided: boolean }>>(handle, 'GET', '/api/datasets')).some(
        (d) => d.cid === cid && d.provided,
      )
        ? true
        : undefined,
    { what, timeoutMs: 30_000 },
  )
}
