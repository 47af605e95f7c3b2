import { describe, expect, it } from 'vitest'
import { balanceSeries } from '../../src/api/routes/dashboard.ts'
import type { LedgerEvent } from '../../src/ledger/store.ts'

describe('balanceSeries', () => {
  it('walks back from the current balance through the newest-first events', () => {
    const events: LedgerEvent[] = [
      { time: 300, peer: 'p', kind: 'earn', bytes: 10, credits: 2_000_000 },
      { time: 200, peer: 'p', kind: 'reject', bytes: 0, credits: 0, code: 'ERR_X' } as LedgerEvent,
      { time: 100, peer: 'q', kind: 'spend', bytes: 10, credits: 500_000 },
    ]
    const series = balanceSeries(1_001_500_000, events, 400)
    expect(series).toEqual([
      { time: 99, balance: 1000 },
      { time: 100, balance: 999.5 },
      { time: 200, balance: 999.5 },
      { time: 300, balance: 1001.5 },
      { time: 400, balance: 1001.5 },
    ])
  })

  it('is one point (now) without events', () => {
    expect(balanceSeries(5_000_000, [], 10)).toEqual([{ time: 10, balance: 5 }])
  })
})
