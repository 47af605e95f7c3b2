/** Wakes every waiter when something changed; waiters re-check their condition in a loop. */
export class Notifier {
  private waiters: Array<() => void> = []

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
