import { eventKey, type LedgerEvent, type LedgerStore } from './store.ts'

type EventsSublevel = LedgerStore['events']

export type EventOp =
  | { type: 'put'; sublevel: EventsSublevel; key: string; value: LedgerEvent }
  | { type: 'del'; sublevel: EventsSublevel; key: string }

/** Ops to add to a batch, and what to call once that batch is written. */
export interface StagedEvents {
  ops: EventOp[]
  written(): void
}

/**
 * The ledger's event history: earn, spend and reject events under rising
 * counters, the newest `retain` of them kept. Every batch that adds events
 * also deletes the ones that fall out of that window, whatever their kind, so
 * a peer sending nothing but forged vouchers cannot grow it either.
 *
 * Stored keys always lie in [next - retain, next): at most `retain` events.
 */
export class EventHistory {
  private readonly events: EventsSublevel
  private readonly retain: number
  private next = 0
  /** Every key below this is gone: a batch that deleted it has been written. */
  private prunedBelow = 0

  constructor(events: EventsSublevel, retain: number) {
    this.events = events
    this.retain = retain
  }

  /** Find the newest counter, and trim a history left longer than `retain` (a lower setting, or an older bwnode). */
  async open(): Promise<void> {
    for await (const key of this.events.keys({ reverse: true, limit: 1 })) this.next = Number(key) + 1
    const floor = this.floor()
    let oldest = floor
    for await (const key of this.events.keys({ limit: 1 })) oldest = Number(key)
    if (oldest < floor) await this.events.clear({ lt: eventKey(floor) })
    this.prunedBelow = floor
  }

  /**
   * Puts for `events` (in order, each under the next counter) and deletes for
   * every key that falls out of the window. Until `written()` is called the
   * deletes are repeated by later batches, so a batch that fails leaves no
   * event behind for good.
   */
  stage(events: readonly LedgerEvent[]): StagedEvents {
    const ops: EventOp[] = events.map((value) => ({
      type: 'put',
      sublevel: this.events,
      key: eventKey(this.next++),
      value,
    }))
    const floor = this.floor()
    for (let counter = this.prunedBelow; counter < floor; counter++) {
      ops.push({ type: 'del', sublevel: this.events, key: eventKey(counter) })
    }
    return {
      ops,
      written: () => {
        this.prunedBelow = Math.max(this.prunedBelow, floor)
      },
    }
  }

  private floor(): number {
    return Math.max(0, this.next - this.retain)
  }
}
