export { bitfieldBytes, countBits, createBitfield, getBit, setBit } from './bitfield.ts'
export {
  CHUNK_CODEC,
  chunkCid,
  chunkKey,
  MANIFEST_CODEC,
  manifestCid,
  parseChunkCid,
  parseDatasetCid,
} from './cid.ts'
export * from './constants.ts'
export type {
  AddOptions,
  ContentStoreInit,
  ExportResult,
  RemoveResult,
  VerifyReport,
} from './content-store.ts'
export { ContentStore } from './content-store.ts'
export type { Manifest, ManifestFile } from './manifest.ts'
export {
  checkChunkSize,
  chunkCountFor,
  chunkLengthAt,
  decodeManifest,
  encodeManifest,
  isSafeRelativePath,
  manifestChunkList,
  manifestTotals,
  validateManifest,
} from './manifest.ts'
