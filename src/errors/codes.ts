/**
 * The error codes the local API answers with a status other than 500, and what each means. The
 * API's status map is this table (src/api/server.ts); docs/API.md's error table lists the same
 * codes under the same statuses, and every code here is one the code base raises
 * (tests/unit/error-codes.test.ts). Any other code is a 500 that still says what went wrong.
 *
 * Two codes say "not there": ERR_DATASET_NOT_FOUND for a dataset this node's store does not hold,
 * ERR_NOT_FOUND for anything else (a route, a transfer id, a path to add, and on the chunk
 * protocol a chunk or manifest the peer does not hold).
 */
export const API_ERROR_CODES = {
  ERR_BAD_REQUEST: { status: 400, meaning: 'the body or query failed validation' },
  ERR_BAD_PEER_ID: { status: 400, meaning: 'not a peer id' },
  ERR_INVALID_CID: { status: 400, meaning: 'not a dataset CID' },
  ERR_INVALID_CHUNK_SIZE: { status: 400, meaning: 'chunk size outside 64 KiB..4 MiB' },
  ERR_UNKNOWN_SEED: { status: 400, meaning: 'no seed recipe of that name' },
  ERR_UNAUTHORIZED: { status: 401, meaning: 'a state change without the API token' },
  ERR_INSUFFICIENT_CREDITS: { status: 402, meaning: 'the fetch costs more than the balance' },
  ERR_BAD_ORIGIN: { status: 403, meaning: "a browser's state change from another site" },
  ERR_NOT_FOUND: { status: 404, meaning: 'no such route, transfer or path' },
  ERR_DATASET_NOT_FOUND: { status: 404, meaning: 'the dataset is not in this store' },
  ERR_NO_PROVIDERS: { status: 404, meaning: 'nobody could be found who serves the dataset' },
  ERR_FETCH_RUNNING: { status: 409, meaning: 'that dataset is being fetched already' },
  ERR_OUT_EXISTS: { status: 409, meaning: 'the output path exists' },
  ERR_BAD_HOST: { status: 421, meaning: 'a Host header the API does not answer to' },
  ERR_DISK_FULL: { status: 507, meaning: 'the disk holding the data dir is full' },
} as const satisfies Record<`ERR_${string}`, { status: number; meaning: string }>

export type ApiErrorCode = keyof typeof API_ERROR_CODES

/** The HTTP status the API answers a code with; undefined for codes that are a 500. */
export function httpStatusOf(code: string): number | undefined {
  return Object.hasOwn(API_ERROR_CODES, code) ? API_ERROR_CODES[code as ApiErrorCode].status : undefined
}
