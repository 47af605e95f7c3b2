import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start real nodes and processes; two cores are all we have.
    maxWorkers: 2,
    pool: 'forks',
    // The JSON report is what .ci/run counts; the default reporter is for people.
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-report.json' }]],
  },
})
