import type { PeerId } from '@libp2p/interface'
import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'
import type { ProviderSession } from '../fetch/types.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { PayerChannel } from '../ledger/payer-channel.ts'
import type { ChunkSession } from '../protocols/chunk/client.ts'

/** What a chunk session needs to pay a provider as this node (the live experiment opens its own). */
export type SessionPayer = Pick<Payments, 'voucherFor' | 'quote' | 'settled' | 'assertAffordable'>

/**
 * The paying side of the chunk protocol: one payment channel per provider,
 * opened at the price the provider quoted in its HAVE reply, and a cumulative
 * voucher signed for every verified chunk (pay as you go).
 */
export class Payments {
  private readonly ledger: Ledger
  private readonly channels = new Map<string, Promise<PayerChannel>>()
  /** Vouchers being signed, per payee: a session waits for them before it closes. */
  private readonly signing = new Map<string, Set<Promise<unknown>>>()

  constructor(ledger: Ledger) {
    this.ledger = ledger
  }

  /** Opens (or reopens at a new price) the channel to `payee`. */
  async quote(payee: PeerId, pricePerGiB: number): Promise<void> {
    const key = payee.toString()
    const current = await this.channels.get(key)?.catch(() => undefined)
    if (current !== undefined && !current.closed && current.pricePerGiB === pricePerGiB) return
    const opening = this.ledger.openChannel(payee, pricePerGiB)
    this.channels.set(key, opening)
    await opening
  }

  /** Throws ERR_INSUFFICIENT_CREDITS when `bytes` at this price exceed the balance. */
  assertAffordable(bytes: number, pricePerGiB: number): void {
    if (!this.ledger.canAfford(bytes, pricePerGiB)) {
      throw new BwnodeError(
        ERR.INSUFFICIENT_CREDITS,
        `fetching ${bytes} bytes at ${pricePerGiB / 1e6} credits/GiB costs more than the balance of ` +
          `${this.ledger.balance / 1e6} credits`,
      )
    }
  }

  /**
   * The voucher to send after `bytes` more were received and verified. Returns the tracked
   * promise itself, so the session's continuation (which sends it) runs before settled() resolves.
   */
  voucherFor(payee: PeerId, bytes: number): Promise<Uint8Array | undefined> {
    const key = payee.toString()
    const signing = this.sign(key, bytes)
    const pending = this.signing.get(key) ?? new Set()
    this.signing.set(key, pending)
    pending.add(signing)
    const forget = (): void => {
      pending.delete(signing)
      if (pending.size === 0 && this.signing.get(key) === pending) this.signing.delete(key)
    }
    signing.then(forget, forget)
    return signing
  }

  /** Resolves once every voucher for `payee` started so far is signed (or failed). */
  async settled(payee: PeerId): Promise<void> {
    const pending = this.signing.get(payee.toString())
    if (pending !== undefined) await Promise.allSettled([...pending])
  }

  private async sign(key: string, bytes: number): Promise<Uint8Array | undefined> {
    const channel = await this.channels.get(key)
    if (channel === undefined || channel.pricePerGiB === 0) return undefined
    return channel.pay(bytes)
  }
}

/**
 * A chunk session as the fetcher takes it, paying as it goes: its HAVE opens the payment channel
 * at the provider's price, and its close first lets the vouchers being signed go out (a voucher is
 * recorded as spent before it is sent: closing sooner, the payer would have paid for bytes the
 * provider is never credited), then hands the session to `release`. `get` is the session's own
 * unless given.
 */
export function payingSession(
  session: ChunkSession,
  payer: SessionPayer,
  release: () => Promise<void>,
  get: ProviderSession['get'] = (cid, options) => session.get(cid, options),
): ProviderSession {
  const peer = session.peerId
  return {
    get,
    manifest: (cid, options) => session.manifest(cid, options),
    have: async (cid, options) => {
      const reply = await session.have(cid, options)
      await payer.quote(peer, reply.pricePerGiB)
      return reply
    },
    abort: () => session.abort(),
    get closed() {
      return session.closed
    },
    close: async () => {
      await payer.settled(peer)
      await release()
    },
  }
}
