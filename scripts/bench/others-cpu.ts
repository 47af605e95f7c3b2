/**
 * CPU time used by the other user-space processes on this machine: what a
 * benchmark shares its cores with. Kernel threads are left out on purpose: their
 * work during a transfer (softirq network processing, writeback of the files a
 * fetch writes) is caused by the transfer itself, not by a neighbour.
 *
 * Linux only (/proc); elsewhere snapshots are empty and the difference is 0.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** PF_KTHREAD in /proc/<pid>/stat's flags field. */
const PF_KTHREAD = 0x00200000
const ticksPerSecond = clockTicks()

function clockTicks(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const ticks = Number((result.stdout ?? '').trim())
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
}

/** utime + stime of every user-space process but `exclude`, in clock ticks, by pid. */
export function othersSnapshot(exclude: ReadonlySet<number>): Map<number, number> {
  const ticks = new Map<number, number>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return ticks
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (exclude.has(pid)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state): flags is field 9, utime 14, stime 15.
    const flags = Number(fields[6])
    if ((flags & PF_KTHREAD) !== 0) continue
    ticks.set(pid, Number(fields[11]) + Number(fields[12]))
  }
  return ticks
}

/** CPU-seconds the other processes used between two snapshots (new processes count from 0). */
export function othersCpuSeconds(before: Map<number, number>, after: Map<number, number>): number {
  let used = 0
  for (const [pid, ticks] of after) used += Math.max(0, ticks - (before.get(pid) ?? 0))
  return used / ticksPerSecond
}
