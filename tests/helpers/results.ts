import { type Cell, RESULTS_SCHEMA_VERSION, type Results } from '../../src/experiment/types.ts'

/** A full run's results around `cells`: a passed calibration, no knobs, seed 3. */
export function labResults(cells: Cell[], seed = 3): Results {
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    startedAt: '2026-01-01T00:00:00.000Z',
    config: { mode: 'full', seed, repetitions: 3, knobs: {} },
    machine: { cpus: 2, memGiB: 8, platform: 'linux-x64', node: 'v24' },
    versions: {},
    calibration: { zeroDelayOverheadRatio: 1, rtt: [], rate: [], passed: true, notes: '' },
    cells,
  }
}
