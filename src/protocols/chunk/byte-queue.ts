/**
 * A FIFO of received byte chunks. Frames are cut out of it without copying when a frame lies in
 * one chunk (the common case for large payloads) and with one copy when it spans several.
 */
export class ByteQueue {
  private readonly chunks: Uint8Array[] = []
  /** Arrival time of each chunk, parallel to `chunks`. */
  private readonly arrivals: number[] = []
  /** Bytes of chunks[0] already consumed. */
  private headOffset = 0
  private total = 0

  get byteLength(): number {
    return this.total
  }

  push(chunk: Uint8Array, arrivedAt: number): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.arrivals.push(arrivedAt)
    this.total += chunk.length
  }

  /** When the first unconsumed byte arrived, or undefined when empty. */
  headArrival(): number | undefined {
    return this.arrivals[0]
  }

  /** Copies up to `n` bytes from the front without consuming them. */
  peek(n: number): Uint8Array {
    const want = Math.min(n, this.total)
    const out = new Uint8Array(want)
    let filled = 0
    let offset = this.headOffset
    for (const chunk of this.chunks) {
      if (filled >= want) break
      const part = chunk.subarray(offset, offset + (want - filled))
      out.set(part, filled)
      filled += part.length
      offset = 0
    }
    return out
  }

  /** Removes `n` bytes from the front. */
  skip(n: number): void {
    this.take(n, false)
  }

  /** Removes and returns `n` bytes from the front (n <= byteLength). */
  read(n: number): Uint8Array {
    return this.take(n, true) as Uint8Array
  }

  private take(n: number, keep: boolean): Uint8Array | undefined {
    if (n > this.total) throw new RangeError(`read ${n} bytes from a queue of ${this.total}`)
    const head = this.chunks[0]
    if (head !== undefined && head.length - this.headOffset >= n) {
      const out = keep ? head.subarray(this.headOffset, this.headOffset + n) : undefined
      this.advance(n)
      return out
    }
    const out = keep ? new Uint8Array(n) : undefined
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0] as Uint8Array
      const available = chunk.length - this.headOffset
      const part = Math.min(available, n - filled)
      out?.set(chunk.subarray(this.headOffset, this.headOffset + part), filled)
      filled += part
      this.advance(part)
    }
    return out
  }

  private advance(n: number): void {
    this.total -= n
    this.headOffset += n
    const head = this.chunks[0]
    if (head !== undefined && this.headOffset >= head.length) {
      this.chunks.shift()
      this.arrivals.shift()
      this.headOffset = 0
    }
  }

  clear(): void {
    this.chunks.length = 0
    this.arrivals.length = 0
    this.headOffset = 0
    this.total = 0
  }
}
