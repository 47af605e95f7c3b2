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
import { parseArgs } from 'node:util'
import { cliStartupBench } from './bench/cli-startup.ts'
import { crossProcessBench } from './bench/cross-process.ts'
import { dhtBench } from './bench/dht.ts'
import { dhtScaleBench } from './bench/dht-processes.ts'
import { emulatedBench } from './bench/emulated.ts'
import { localReadBench } from './bench/local-read.ts'
import { longFatLinkBench } from './bench/long-fat-link.ts'
import { loopbackBench } from './bench/loopback.ts'
import { machineInfo, versions } from './bench/machine.ts'
import { multiSourceBench } from './bench/multisource.ts'
import { multiSourceProcessesBench } from './bench/multisource-processes.ts'
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
  'multi-process': multiSourceProcessesBench,
  placements: placementsBench,
  dht: dhtBench,
  'dht-scale': dhtScaleBench,
  vivaldi: vivaldiBench,
  quic: quicBench,
  'cli-startup': cliStartupBench,
}

const USAGE = `usage: npm run bench [-- --json] [-- --quick] [-- --only SECTION,...] [-- --results-dir DIR]
sections: ${Object.keys(SECTIONS).join(', ')}`

/** The command line, strictly: a mistyped flag is an error, not a full bench run. */
function parseBenchArgs(): { json: boolean; quick: boolean; only?: string[]; resultsDir?: string } {
  try {
    const { values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        'results-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
    if (values.help) {
      console.log(USAGE)
      process.exit(0)
    }
    return {
      json: values.json,
      quick: values.quick,
      ...(values.only === undefined ? {} : { only: values.only.split(',') }),
      ...(values['results-dir'] === undefined ? {} : { resultsDir: values['results-dir'] }),
    }
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`)
    process.exit(2)
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { json, quick, only, resultsDir = join(root, 'bench', 'results') } = parseBenchArgs()
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
