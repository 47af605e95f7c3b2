import { defineConfig } from 'vitest/config'

/**
 * Tests that compare measured timings with configured ones (link calibration,
 * RTT geometry, throughput ratios, fairness, the quick experiment), and the NAT
 * lab that would take both cores from the rest, run one file at a time, apart
 * from the other files.
 * Everything else runs afterwards, two files at a time.
 */
const TIMING_SENSITIVE = [
  'tests/integration/net-emulator.test.ts',
  'tests/integration/ranking-lab.test.ts',
  'tests/integration/chunk-throughput.test.ts',
  'tests/integration/experiment-quick.test.ts',
  'tests/hostile/load.test.ts',
  // dilated time against configured time, to 15%
  'tests/unit/net-dilation.test.ts',
  // fetches racing providers that stop and restart every 150-600 ms: starved of CPU by a
  // neighbouring file, a fetch outlasts the restarts it is meant to ride through
  'tests/hostile/churn.test.ts',
  // the live experiment between hosts compares all providers together with the best one alone
  'tests/e2e/netns-lab.test.ts',
  // not timing-sensitive itself, but its eight daemons keep both cores busy for minutes
  'tests/e2e/nat-lab.test.ts',
  // 40 nodes in two processes: both cores busy for most of a minute
  'tests/integration/dht-scale.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-report.json' }]],
    projects: [
      {
        extends: true,
        test: {
          name: 'timing',
          include: TIMING_SENSITIVE,
          fileParallelism: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'main',
          include: ['tests/**/*.test.ts'],
          exclude: TIMING_SENSITIVE,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
