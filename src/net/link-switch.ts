import type { MessageStream } from '@libp2p/interface'

/**
 * Takes a node off the network and back, as a home machine that sleeps, loses its Wi-Fi or is
 * switched off: down() resets every connection the node has (the peers see their streams die,
 * as after a TCP reset) and the node accepts and makes no new ones until up(). The link emulator
 * consults it for every raw connection, so it works the same for nodes in other processes.
 */
export class LinkSwitch {
  private online = true
  private readonly connections = new Set<MessageStream>()

  get isUp(): boolean {
    return this.online
  }

  /** Called by the emulator for each raw connection it admits while the link is up. */
  track(connection: MessageStream): void {
    this.connections.add(connection)
    connection.addEventListener('close', () => this.connections.delete(connection), { once: true })
  }

  /** Off the network: every connection is reset now, and none is admitted until up(). */
  down(): void {
    this.online = false
    const err = new Error('link down: the node left the network')
    for (const connection of [...this.connections]) connection.abort(err)
    this.connections.clear()
  }

  up(): void {
    this.online = true
  }
}
