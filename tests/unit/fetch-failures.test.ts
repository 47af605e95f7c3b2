import { describe, expect, it } from 'vitest'
import { ProviderFailures, ProviderState } from '../../src/fetch/provider.ts'
import type { ProviderSession } from '../../src/fetch/types.ts'

describe('ProviderFailures', () => {
  it('counts failures, halves them every half-life and forgets them on success', () => {
    let now = 0
    const failures = new ProviderFailures({ now: () => now, halfLifeMs: 1000 })
    expect(failures.score('a')).toBe(0)
    failures.failed('a')
    failures.failed('a')
    expect(failures.score('a')).toBe(2)
    now = 1000
    expect(failures.score('a')).toBeCloseTo(1, 9)
    failures.failed('a')
    expect(failures.score('a')).toBeCloseTo(2, 9)
    failures.succeeded('a')
    expect(failures.score('a')).toBe(0)
  })

  it('remembers at most maxPeers, forgetting the one recorded least recently', () => {
    const failures = new ProviderFailures({ maxPeers: 2 })
    failures.failed('a')
    failures.failed('b')
    failures.failed('a')
    failures.failed('c')
    expect(failures.size).toBe(2)
    expect(failures.score('b')).toBe(0)
    expect(failures.score('a')).toBeGreaterThan(1.9)
    expect(failures.score('c')).toBeGreaterThan(0.9)
  })
})

describe('ProviderState with past failures', () => {
  const session = {} as ProviderSession
  const peer = { toString: () => 'p' } as never

  it('estimates a provider that failed before as slower than an equal one that did not', () => {
    const hint = { rttMs: 10, rttSource: 'measured' as const, offeredBytesPerSec: 1e6 }
    const clean = new ProviderState(peer, session, new Set([0]), hint)
    const failed = new ProviderState(peer, session, new Set([0]), { ...hint, pastFailures: 2 })
    // 1 MB/s, 100 kB chunk: 100 ms per chunk; two past failures cost two chunk times.
    expect(failed.estimateMs(100_000) - clean.estimateMs(100_000)).toBeCloseTo(200, 6)
  })
})
