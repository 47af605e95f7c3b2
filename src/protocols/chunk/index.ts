export {
  ChunkSession,
  type ChunkSessionInit,
  type OpenSessionOptions,
  type RequestOptions,
} from './client.ts'
export { ChunkErrorCode, type ChunkErrorCodeValue } from './codes.ts'
export * from './constants.ts'
export { ChunkServer, type ChunkServerInit, chunkProtocolHandler, registerChunkProtocol } from './handler.ts'
export {
  concatParts,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  MessageType,
  type Request,
  type Response,
  STREAM_REQUEST_ID,
} from './messages.ts'
export { PeerScore, type PeerScoreInit } from './peer-score.ts'
export { ChunkSessionPool, type SessionPoolInit } from './session-pool.ts'
export type {
  ChunkSource,
  ChunkTiming,
  ClientHooks,
  Clock,
  HaveReply,
  ReleaseFn,
  ServePolicy,
} from './types.ts'
export { verifyChunk } from './verify.ts'
