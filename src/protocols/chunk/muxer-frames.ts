/**
 * Keeps a stream's muxer data frames small.
 *
 * A muxer hands a data frame's bytes to the stream only once the whole frame has arrived.
 * @chainsafe/libp2p-yamux 8 sizes every data frame to the stream's whole send window (it sets
 * the stream's `maxMessageSize` from the window on each window update, ignoring the 64 KiB its
 * interface documents), and the window grows to megabytes on a long fat link. A chunk written
 * while the connection was backed up then left in one frame with the chunk after it: on a
 * 25 Mbit/s home uplink a 1 MiB chunk arrived a whole chunk time (0.34 s) late, its queue looked
 * twice as slow as it was, and a sixteen-peer staging moved chunks onto busy peers and took up to
 * 1.7x as long. Capped at yamux's initial window (the frame size every stream starts with), a
 * chunk's end waits behind at most a quarter of a 1 MiB chunk; 64 KiB frames cost the fetcher
 * more CPU per byte in the cross-process bench (46-57 CPU-s/GB on loopback, against 32-44
 * uncapped or at 256 KiB). rust-yamux caps its frames (at 16 KiB) for the same reason.
 */
export function capMuxerFrames(stream: object, maxBytes: number): void {
  if (!('maxMessageSize' in stream)) return
  // The muxer keeps assigning its window-derived size; every read of it is capped.
  let assigned = (stream as { maxMessageSize?: number }).maxMessageSize
  Object.defineProperty(stream, 'maxMessageSize', {
    configurable: true,
    enumerable: true,
    get: () => (assigned === undefined ? maxBytes : Math.min(assigned, maxBytes)),
    set: (value: number | undefined) => {
      assigned = value
    },
  })
}

/** yamux's StreamState.Established: SYN and ACK have been exchanged, nothing rides on an update. */
const YAMUX_ESTABLISHED = 3

interface YamuxReceiveWindow {
  sendWindowUpdate: () => void
  recvWindow: number
  recvWindowCapacity: number
  maxStreamWindowSize: number
  state: number
  /** When the last update was sent (Date.now()). */
  epochStart: number
  /** The connection's round trip as yamux measured it, ms; -1 before it has. */
  getRTT: () => number
}

function isYamuxStream(stream: object): stream is YamuxReceiveWindow {
  const s = stream as Partial<YamuxReceiveWindow>
  return (
    typeof s.sendWindowUpdate === 'function' &&
    typeof s.getRTT === 'function' &&
    typeof s.recvWindow === 'number' &&
    typeof s.recvWindowCapacity === 'number' &&
    typeof s.maxStreamWindowSize === 'number' &&
    typeof s.epochStart === 'number' &&
    typeof s.state === 'number'
  )
}

/**
 * Grants receive window in halves instead of after every data frame, once the window is large
 * enough for the link.
 *
 * @chainsafe/libp2p-yamux 8 sends a WINDOW_UPDATE after each data frame it hands to the stream:
 * four per 1 MiB chunk at 256 KiB frames, each its own noise message and socket write, which the
 * sender must decrypt and handle too. Go's and Rust's yamux wait until half the window is used.
 * So does this, with one exception: yamux grows the window (doubles it) at an update sent within
 * four round trips of the previous one, which it checks on every frame. Deferring those updates
 * too slowed the growth to one doubling per half window consumed, so on a 50 Mbit/s x 150 ms link
 * a 60 MiB fetch spent half its bytes below the window it needed (0.93 of the rate against 1.00).
 * So while the window is below its maximum and the last update is under four round trips old,
 * yamux sends as it always did; otherwise the update waits while half the window is still
 * granted, and the sender always has half a window it may send.
 *
 * For the fetcher's side of a chunk stream, where the chunk bytes arrive. A server receives only
 * requests, and it keeps yamux's eager updates: its window grows while it reads, so a peer that
 * floods requests it does not read overruns the transport buffer and is reset (chunk-handler test).
 */
export function deferWindowUpdates(stream: object): void {
  if (!isYamuxStream(stream)) return
  const update = stream.sendWindowUpdate.bind(stream)
  stream.sendWindowUpdate = () => {
    if (stream.state === YAMUX_ESTABLISHED && stream.recvWindowCapacity >= stream.recvWindow / 2) {
      const rtt = stream.getRTT()
      const growing =
        stream.recvWindow < stream.maxStreamWindowSize &&
        rtt > -1 &&
        Date.now() - stream.epochStart <= rtt * 4
      if (!growing) return
    }
    update()
  }
}
