import { readFileSync } from 'node:fs'
import { arch, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'

export interface MachineInfo {
  hostname: string
  platform: string
  release: string
  arch: string
  cpuModel: string
  cpus: number
  memoryGiB: number
  loadAverage: number[]
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    hostname: hostname(),
    platform: platform(),
    release: release(),
    arch: arch(),
    cpuModel: list[0]?.model ?? 'unknown',
    cpus: list.length,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  }
}

const VERSIONED_PACKAGES = [
  'libp2p',
  '@chainsafe/libp2p-noise',
  '@chainsafe/libp2p-yamux',
  '@chainsafe/libp2p-quic',
  '@libp2p/tcp',
  '@libp2p/kad-dht',
  'level',
]

/** Node, bwnode and the libp2p stack as installed (read from node_modules, not package.json ranges). */
export function versions(root: string): Record<string, string> {
  const out: Record<string, string> = { node: process.version }
  const read = (path: string): string | undefined => {
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version
    } catch {
      return undefined
    }
  }
  out.bwnode = read(join(root, 'package.json')) ?? 'unknown'
  for (const name of VERSIONED_PACKAGES) {
    out[name] = read(join(root, 'node_modules', name, 'package.json')) ?? 'missing'
  }
  return out
}
