/**
 * Two network namespaces joined by one veth pair, for benchmarks that need two
 * hosts with a kernel-shaped link between them. Nothing touches the host's own
 * network: the pair lives entirely inside the two namespaces, on a private /24,
 * with no default route, so traffic can only flow between the two ends.
 *
 * Names are `<prefix>-<owner pid>-<role>`, so a later run can tell leftovers of
 * a killed run (owner gone) from namespaces of a run still going.
 */
import { spawnSync } from 'node:child_process'

export const NETNS_PREFIX = 'bwbench'

export interface VethPair {
  /** Namespace and address of each end; the device is `eth0` in both. */
  a: { netns: string; address: string }
  b: { netns: string; address: string }
  remove(): void
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`)
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${(result.stderr ?? '').trim()}`)
  }
  return result.stdout ?? ''
}

function words(text: string): string[] {
  return text.split(' ')
}

function ownerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Why namespaces cannot be used here, or null when they can (probed by adding one). */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root'
  const probe = `${NETNS_PREFIX}-${process.pid}-probe`
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (added.error) return `ip is not available: ${added.error.message}`
  if (added.status !== 0) return `ip netns add failed: ${(added.stderr ?? '').trim()}`
  const veth = spawnSync('ip', ['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'], {
    encoding: 'utf8',
  })
  spawnSync('ip', ['netns', 'delete', probe])
  if (veth.status !== 0) return `veth pairs are not available: ${(veth.stderr ?? '').trim()}`
  return null
}

/** Namespaces (and the processes in them) of runs whose owner process is gone, or all of `owner`'s. */
export function sweepNamespaces(owner?: number): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  const pattern = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`)
  const removed: string[] = []
  for (const line of listed.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const match = pattern.exec(name)
    if (match === null) continue
    const pid = Number(match[1])
    if (owner !== undefined ? pid !== owner : ownerAlive(pid)) continue
    const pids = (spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '').split('\n')
    for (const child of pids.filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(child), 'SIGKILL')
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'delete', name])
    removed.push(name)
  }
  return removed
}

/**
 * Creates `<prefix>-<pid>-a` and `-b` with a veth pair between them (10.78.0.1
 * and 10.78.0.2 on /24 by default). Removed by remove(), by sweepNamespaces(pid),
 * or by the next run's sweep if this process dies first.
 */
export function createVethPair(subnet = '10.78.0'): VethPair {
  const a = { netns: `${NETNS_PREFIX}-${process.pid}-a`, address: `${subnet}.1` }
  const b = { netns: `${NETNS_PREFIX}-${process.pid}-b`, address: `${subnet}.2` }
  const remove = (): void => {
    sweepNamespaces(process.pid)
  }
  try {
    for (const end of [a, b]) {
      run('ip', ['netns', 'add', end.netns])
      run('ip', ['-n', end.netns, 'link', 'set', 'lo', 'up'])
    }
    run('ip', ['-n', a.netns, ...words('link add eth0 type veth peer name eth0 netns'), b.netns])
    for (const end of [a, b]) {
      run('ip', ['-n', end.netns, 'addr', 'add', `${end.address}/24`, 'dev', 'eth0'])
      run('ip', ['-n', end.netns, 'link', 'set', 'eth0', 'up'])
    }
  } catch (err) {
    remove()
    throw err
  }
  return { a, b, remove }
}

/**
 * Shapes what `netns` sends on its eth0 with a token bucket (tc tbf) at `mbps`,
 * or removes the shaping for null. The burst is ~4 ms of the rate and at least
 * 64 KiB (one GSO segment on a veth must fit); the queue holds 50 ms.
 */
export function shapeEgress(netns: string, mbps: number | null): void {
  if (mbps === null) {
    // Deleting a root qdisc that was never added fails; that is the state we want.
    spawnSync('ip', ['netns', 'exec', netns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'])
    return
  }
  const burstBytes = Math.max(64 * 1024, Math.round((mbps * 1e6 * 0.004) / 8))
  const tbf = `tc qdisc replace dev eth0 root tbf rate ${mbps}mbit burst ${burstBytes} latency 50ms`
  run('ip', ['netns', 'exec', netns, ...words(tbf)])
}
