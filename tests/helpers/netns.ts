import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'

/** Helpers of the network-namespace lab tests (tests/e2e/netns-lab, tests/e2e/nat-lab). */

export function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0
}

/**
 * Removes namespaces "<prefix>-<pid>-..." (and their processes) a lab created: those of
 * `onlyOwner`, or, without it, any whose owner is gone.
 */
export function sweepNamespaces(prefix: string, onlyOwner?: number): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  const removed: string[] = []
  for (const line of listed.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const match = new RegExp(`^${prefix}-(\\d+)-`).exec(name)
    if (match === null) continue
    const owner = Number(match[1])
    const ownerAlive = spawnSync('kill', ['-0', String(owner)]).status === 0
    if (onlyOwner !== undefined ? owner !== onlyOwner : ownerAlive) continue
    const pids = (spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '').split('\n')
    for (const pid of pids.filter((p) => /^\d+$/.test(p))) spawnSync('kill', ['-9', pid])
    spawnSync('ip', ['netns', 'delete', name])
    removed.push(name)
  }
  return removed
}

/** sha256 of every file under `dir`, by relative path. */
export async function fileHashes(dir: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>()
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name)
      if (entry.isDirectory()) await walk(path)
      else
        hashes.set(
          relative(dir, path),
          createHash('sha256')
            .update(await readFile(path))
            .digest('hex'),
        )
    }
  }
  await walk(dir)
  return hashes
}

/** Creates and deletes a namespace: null when that works, else why not. */
export function netnsProbe(prefix: string): string | null {
  const probe = `${prefix}-${process.pid}-probe`
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (added.status !== 0) return `ip netns add failed: ${(added.stderr ?? '').trim()}`
  spawnSync('ip', ['netns', 'delete', probe])
  return null
}

/**
 * Runs a lab script (bash) to its end or until `timeoutMs` (then SIGKILL); `onPid` gets its pid
 * at once, so the caller can sweep what it left even if the test times out.
 */
export async function runLabScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  onPid: (pid: number | undefined) => void,
): Promise<{ code: number | null; stdout: string; stderr: string; pid: number | undefined }> {
  const child = spawn('bash', [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onPid(child.pid)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)))
  clearTimeout(timer)
  return { code, stdout, stderr, pid: child.pid }
}
