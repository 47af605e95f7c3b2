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
