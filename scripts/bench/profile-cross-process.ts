/**
 * CPU profiles of the cross-process fetch alone: a provider and a fetcher in two
 * processes on 127.0.0.1, each profiling itself (V8 inspector) over the timed
 * fetches only: no start-up, no dataset generation, no baselines.
 *
 *   node scripts/bench/profile-cross-process.ts [MiB=256] [fetches=4] [outDir]
 *
 * One warm-up fetch is not profiled. Writes provider.cpuprofile and
 * fetcher.cpuprofile into outDir and prints the fetch rates; read them with
 * scripts/bench/profile-summary.ts.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PeerProcess, type ServedDataset, type Transfer } from './cross-process-protocol.ts'

const mib = Number(process.argv[2] ?? 256)
const fetches = Number(process.argv[3] ?? 4)
const outDir = resolve(process.argv[4] ?? 'cross-process-profiles')
await mkdir(outDir, { recursive: true })
const workDir = await mkdtemp(join(tmpdir(), 'bwnode-profile-cross-'))
const log = (line: string): void => console.error(line)
const start = (role: 'provider' | 'fetcher'): Promise<PeerProcess> =>
  PeerProcess.start({ role, host: '127.0.0.1', dataDir: join(workDir, role), log })
const peers = await Promise.all([start('provider'), start('fetcher')])
try {
  const [provider, fetcher] = peers
  await fetcher.request({ op: 'dial', multiaddr: provider.ready.multiaddrs[0] as string })
  const dataset = await provider.request<ServedDataset>({
    op: 'dataset',
    key: 'profile',
    bytes: mib * 2 ** 20,
  })
  await provider.request({ op: 'provide', cid: dataset.cid })
  await fetcher.request({ op: 'wait-providers', cid: dataset.cid })
  const fetch = (): Promise<Transfer> =>
    fetcher.request<Transfer>({
      op: 'transfer',
      kind: 'fetch',
      host: '127.0.0.1',
      tcpPort: dataset.tcpPort,
      peerId: provider.ready.peerId,
      bareProtocol: dataset.bareProtocol,
      cid: dataset.cid,
    })
  await fetch()
  await Promise.all(peers.map((peer) => peer.request({ op: 'profile-start' })))
  for (let i = 0; i < fetches; i++) {
    const transfer = await fetch()
    console.log(
      `fetch ${i + 1}: ${(transfer.bytes / transfer.seconds / 1e6).toFixed(1)} MB/s, ` +
        `fetcher ${(transfer.cpuSeconds / (transfer.bytes / 1e9)).toFixed(2)} CPU-s/GB`,
    )
  }
  for (const peer of peers) {
    await peer.request({ op: 'profile-stop', path: join(outDir, `${peer.role}.cpuprofile`) })
  }
} finally {
  await Promise.allSettled(peers.map((peer) => peer.stop()))
  await rm(workDir, { recursive: true, force: true })
}
console.log(`profiles in ${outDir}: provider.cpuprofile, fetcher.cpuprofile`)
