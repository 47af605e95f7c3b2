export * from './constants.ts'
export { type EmulatorProbe, TimeDilation, UNDILATED } from './dilation.ts'
export { createLinkEmulator, type EmulatedConnectionInfo, type LinkEmulatorInit } from './emulator.ts'
export {
  isTransparentPath,
  type LinkPosition,
  linkBetween,
  type NodeLink,
  type PathCharacteristics,
  type ResolvedLink,
  resolveLink,
  ZERO_LINK,
} from './link.ts'
export { exchangePreamble, PREAMBLE_MAGIC, PREAMBLE_VERSION } from './preamble.ts'
export { ShapedMessageStream, type ShaperOptions } from './shaped-stream.ts'
