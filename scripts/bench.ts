/**
 * How close bwnode gets to the limits of this machine and its libraries,
 * measured side by side in one run (ratios, not absolute times: machines are
 * shared and noisy).
 *
 *   npm run bench [-- --json] [-- --quick] [-- --only loopback,dht]
 *
 * Prints a table of figures with their targets (stderr carries progress), or
 * with --json the report object. Every run is kept under bench/results/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crossProcessBench } from './bench/cross-process.ts'
import { dhtBench } from './bench/dht.ts'
import { emulatedBench } from './bench/emulated.ts'
import { localReadBench } from './bench/local-read.ts'
import { longFatLinkBench } from './bench/long-fat-link.ts'
import { loopbackBench } from './bench/loopback.ts'
import { machineInfo, versions } from './bench/machine.ts'
import { multiSourceBench } from './bench/multisource.ts'
import { placementsBench } from './bench/placements.ts'
import { quicBench } from './bench/quic.ts'
import { formatTable } from './bench/table.ts'
import type { BenchContext, BenchResult } from './bench/types.ts'
import { vivaldiBench } from './bench/vivaldi.ts'

const SECTIONS: Record<string, (ctx: BenchContext) => Promise<BenchResult[]>> = {
  loopback: loopbackBench,
  'cross-process': crossProcessBench,
  'local-read': localReadBench,
  emulated: emulatedBench,
  'long-fat-link': longFatLinkBench,
  'multi-source': multiSourceBench,
  placements: placementsBench,
  dht: dhtBench,
  vivaldi: vivaldiBench,
  quic: quicBench,
}

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const json = process.argv.includes('--json')
const quick = process.argv.includes('--quick')
const only = argValue('--only')?.split(',')
const resultsDir = argValue('--results-dir') ?? join(root, 'bench', 'results')
const unknown = only?.filter((name) => !(name in SECTIONS)) ?? []
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}`)
  process.exit(2)
}

const workDir = await mkdtemp(join(tmpdir(), 'bwnode-bench-'))
const ctx: BenchContext = { quick, workDir, log: (line) => console.error(`[bench] ${line}`) }
const results: BenchResult[] = []
const started = new Date()
try {
  for (const [name, run] of Object.entries(SECTIONS)) {
    if (only !== undefined && !only.includes(name)) continue
    const sectionStart = performance.now()
    ctx.log(`${name}...`)
    try {
      results.push(...(await run(ctx)))
    } catch (err) {
      // One broken section must not hide the others: it shows up as a failed figure.
      ctx.log(`${name} failed: ${(err as Error).stack ?? String(err)}`)
      results.push({
        name: `${name}.error`,
        value: Number.NaN,
        unit: '',
        target: 'runs',
        pass: false,
        note: String(err),
      })
    }
    ctx.log(`${name} done in ${((performance.now() - sectionStart) / 1000).toFixed(1)} s`)
  }
} finally {
  await rm(workDir, { recursive: true, force: true })
}

const report = {
  startedAt: started.toISOString(),
  quick,
  machine: machineInfo(),
  versions: versions(root),
  results,
}
await mkdir(resultsDir, { recursive: true })
const file = join(resultsDir, `${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`)
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`)
if (json) console.log(JSON.stringify(report, null, 2))
else {
  console.log(formatTable(results))
  console.log(`\nsaved ${file}`)
}
// libp2p and LevelDB leave timers behind on some paths; the report is written, so leave now.
process.exit(0)
