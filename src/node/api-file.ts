/**
 * `<data>/api.json`: how the CLI finds and authenticates to a running daemon. Its own module so
 * the CLI's HTTP client can read it without loading the node (libp2p, fastify).
 */
export const API_FILE = 'api.json'

export interface ApiFile {
  url: string
  token: string
  peerId: string
}
