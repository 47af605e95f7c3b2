/**
 * Have-maps: one bit per chunk of a manifest, in manifest order. Bit i lives in
 * byte i >> 3, most significant bit first (the BitTorrent convention), so the
 * first chunk is the 0x80 bit of byte 0. Trailing bits of the last byte are 0.
 */

export function bitfieldBytes(bitCount: number): number {
  return Math.ceil(bitCount / 8)
}

export function createBitfield(bitCount: number): Uint8Array {
  return new Uint8Array(bitfieldBytes(bitCount))
}

export function getBit(bits: Uint8Array, index: number): boolean {
  const byte = bits[index >> 3] ?? 0
  return (byte & (0x80 >> (index & 7))) !== 0
}

export function setBit(bits: Uint8Array, index: number): void {
  const at = index >> 3
  if (at >= bits.length) throw new RangeError(`bit ${index} is outside a ${bits.length}-byte bitfield`)
  bits[at] = (bits[at] ?? 0) | (0x80 >> (index & 7))
}

/** Number of set bits. */
export function countBits(bits: Uint8Array): number {
  let count = 0
  for (const byte of bits) {
    let b = byte
    while (b !== 0) {
      b &= b - 1
      count++
    }
  }
  return count
}
