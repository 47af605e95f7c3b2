/**
 * A part of the node that starts and stops, in the style of libp2p's `Startable` components:
 * `start` makes it ready for the parts after it, `stop` releases what `start` took.
 */
export interface Startable {
  start(): void | Promise<void>
  stop(): void | Promise<void>
}

export interface NodePart extends Startable {
  /** What the part is, as the start order lists it. */
  readonly name: string
}

/**
 * Starts parts in the order given, each after the parts it depends on, and stops them in the
 * reverse order. A part that fails to start stops the ones already started (newest first)
 * before its error goes on, so a node that cannot start leaves no timer, file or socket
 * behind. Every started part is stopped even when one of them fails to stop; the first
 * failure is thrown once all have run.
 */
export class StartOrder {
  private readonly parts: readonly NodePart[]
  private readonly started: NodePart[] = []

  constructor(parts: readonly NodePart[]) {
    this.parts = parts
  }

  /** The parts' names in start order (docs and tests read it). */
  get names(): string[] {
    return this.parts.map((part) => part.name)
  }

  async start(): Promise<void> {
    for (const part of this.parts) {
      if (this.started.includes(part)) continue
      try {
        await part.start()
      } catch (err) {
        await this.stop().catch(() => {})
        throw err
      }
      this.started.push(part)
    }
  }

  async stop(): Promise<void> {
    let failure: { error: unknown } | undefined
    for (let part = this.started.pop(); part !== undefined; part = this.started.pop()) {
      try {
        await part.stop()
      } catch (error) {
        failure ??= { error }
      }
    }
    if (failure !== undefined) throw failure.error
  }
}

/** A part from two functions (a service whose methods are named otherwise, e.g. open/close). */
export function part(
  name: string,
  start: () => void | Promise<void>,
  stop: () => void | Promise<void> = () => {},
): NodePart {
  return { name, start, stop }
}
