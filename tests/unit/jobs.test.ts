import { describe, expect, it } from 'vitest'
import { JobRegistry } from '../../src/node/jobs.ts'

interface Job {
  id: string
  state: 'running' | 'done'
}

describe('JobRegistry', () => {
  it('keeps every running job and only the newest finished ones, newest first', () => {
    const jobs = new JobRegistry<Job>('add', 3)
    const all: Job[] = []
    for (let i = 0; i < 8; i++) {
      const job: Job = { id: jobs.nextId(), state: i === 1 ? 'running' : 'done' }
      jobs.add(job)
      all.push(job)
      jobs.prune()
    }
    expect(jobs.list().map((j) => j.id)).toEqual(['8', '7', '6', '2'])
    expect(jobs.running().map((j) => j.id)).toEqual(['2'])
    expect(() => jobs.get('1')).toThrow(/no add 1/)
  })

  it('aborts one job, or all of them, through their signals', () => {
    const jobs = new JobRegistry<Job>('transfer', 10)
    const a = new AbortController()
    const b = new AbortController()
    jobs.add({ id: jobs.nextId(), state: 'running' }, a)
    jobs.add({ id: jobs.nextId(), state: 'running' }, b)
    expect(jobs.abort('1', new Error('stop')).id).toBe('1')
    expect([a.signal.aborted, b.signal.aborted]).toEqual([true, false])
    jobs.abortAll(new Error('shutdown'))
    expect(b.signal.aborted).toBe(true)
    expect(() => jobs.abort('9', new Error('x'))).toThrow(/no transfer 9/)
  })
})
