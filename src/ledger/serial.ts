/**
 * Runs async tasks one at a time, in call order. The ledger puts every change
 * to balances through one of these so a balance check and the batch that
 * spends it can never interleave with another change.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task)
    // The queue goes on after a failed task; the caller still sees the failure.
    this.tail = result.catch(() => {})
    return result
  }
}
