/**
 * /favicon.ico: the dashboard's ◆ as a 32×32 icon, built here rather than kept as a binary file.
 * An ICO holding one 32-bit BMP: the ICONDIR header, one ICONDIRENTRY, a BITMAPINFOHEADER (its
 * height counts the AND mask too), BGRA pixels bottom-up, then the 1-bit AND mask (all zero:
 * the alpha channel decides).
 */

const SIZE = 32
/** The accent colour of the page (style.css --accent), #2f6fed, as BGRA. */
const ACCENT = [0xed, 0x6f, 0x2f, 0xff] as const

export function faviconIco(): Buffer {
  const pixels = Buffer.alloc(SIZE * SIZE * 4)
  const centre = (SIZE - 1) / 2
  for (let row = 0; row < SIZE; row++) {
    for (let col = 0; col < SIZE; col++) {
      // A diamond: |dx| + |dy| within the radius, with a one-pixel soft edge.
      const distance = Math.abs(col - centre) + Math.abs(row - centre)
      const alpha = Math.max(0, Math.min(1, centre - distance))
      if (alpha === 0) continue
      const at = ((SIZE - 1 - row) * SIZE + col) * 4 // BMP rows run bottom-up
      pixels[at] = ACCENT[0]
      pixels[at + 1] = ACCENT[1]
      pixels[at + 2] = ACCENT[2]
      pixels[at + 3] = Math.round(ACCENT[3] * alpha)
    }
  }
  const mask = Buffer.alloc((SIZE / 8) * SIZE) // rows of 32 bits: no padding needed at this size
  const info = Buffer.alloc(40)
  info.writeUInt32LE(40, 0) // header size
  info.writeInt32LE(SIZE, 4) // width
  info.writeInt32LE(SIZE * 2, 8) // height: pixels and mask
  info.writeUInt16LE(1, 12) // planes
  info.writeUInt16LE(32, 14) // bits per pixel
  info.writeUInt32LE(pixels.length + mask.length, 20) // image size
  const image = Buffer.concat([info, pixels, mask])
  const header = Buffer.alloc(6 + 16)
  header.writeUInt16LE(0, 0) // reserved
  header.writeUInt16LE(1, 2) // type: icon
  header.writeUInt16LE(1, 4) // images
  header.writeUInt8(SIZE, 6) // width
  header.writeUInt8(SIZE, 7) // height
  header.writeUInt16LE(1, 10) // planes
  header.writeUInt16LE(32, 12) // bits per pixel
  header.writeUInt32LE(image.length, 14) // bytes of the image
  header.writeUInt32LE(header.length, 18) // where it starts
  return Buffer.concat([header, image])
}
