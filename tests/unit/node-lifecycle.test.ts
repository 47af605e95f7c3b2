import { describe, expect, it } from 'vitest'
import { part, StartOrder } from '../../src/node/lifecycle.ts'

/** Parts that write what happens to them into `log`; `fail` names parts whose start or stop throws. */
function parts(log: string[], names: string[], fail: { start?: string; stop?: string } = {}) {
  return names.map((name) =>
    part(
      name,
      async () => {
        await Promise.resolve()
        if (fail.start === name) throw new Error(`${name} cannot start`)
        log.push(`start ${name}`)
      },
      () => {
        log.push(`stop ${name}`)
        if (fail.stop === name) throw new Error(`${name} cannot stop`)
      },
    ),
  )
}

describe('StartOrder: parts start in order and stop in reverse', () => {
  it('starts each part after the ones before it and stops them newest first', async () => {
    const log: string[] = []
    const order = new StartOrder(parts(log, ['db', 'ledger', 'network']))
    await order.start()
    await order.stop()
    expect(log).toEqual([
      'start db',
      'start ledger',
      'start network',
      'stop network',
      'stop ledger',
      'stop db',
    ])
    expect(order.names).toEqual(['db', 'ledger', 'network'])
  })

  it('a part that fails to start stops the started ones, and its error goes on', async () => {
    const log: string[] = []
    const order = new StartOrder(parts(log, ['db', 'ledger', 'network', 'offers'], { start: 'network' }))
    await expect(order.start()).rejects.toThrow('network cannot start')
    expect(log).toEqual(['start db', 'start ledger', 'stop ledger', 'stop db'])
    // nothing is left to stop, nothing is stopped twice
    await order.stop()
    expect(log).toHaveLength(4)
  })

  it('one failing stop does not keep the others open; the first failure is thrown after all ran', async () => {
    const log: string[] = []
    const order = new StartOrder(parts(log, ['db', 'ledger', 'network'], { stop: 'network' }))
    await order.start()
    await expect(order.stop()).rejects.toThrow('network cannot stop')
    expect(log.slice(3)).toEqual(['stop network', 'stop ledger', 'stop db'])
  })

  it('stopping a never-started order does nothing', async () => {
    const log: string[] = []
    await new StartOrder(parts(log, ['db'])).stop()
    expect(log).toEqual([])
  })
})
