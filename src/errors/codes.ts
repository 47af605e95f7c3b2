/**
 * Every error code bwnode raises, sends or reads, in one table: code compares and throws name
 * these constants, never the strings (tests/unit/error-codes.test.ts fails on an `'ERR_*'`
 * literal anywhere else in src/). The values are what goes on the wire (chunk protocol ERROR
 * frames, offer and voucher refusals), into API replies and `--json` output, and into metric
 * labels: they keep their spelling, a key is its value without the `ERR_` prefix.
 *
 * Two codes say "not there": ERR_DATASET_NOT_FOUND for a dataset this node's store does not hold,
 * ERR_NOT_FOUND for anything else (a route, a transfer id, a path to add, and on the chunk
 * protocol a chunk or manifest the peer does not hold).
 */
export const ERR = {
  // Any layer
  /** A failure with no code of its own; on the chunk protocol, the server's own failure. */
  INTERNAL: 'ERR_INTERNAL',
  /** Bad configuration or data dir (ConfigError): the daemon refuses to start, exit code 2. */
  CONFIG: 'ERR_CONFIG',
  /** Bad command-line usage (UsageError): exit code 2. */
  USAGE: 'ERR_USAGE',
  /** A function was called with a value it cannot take. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** The caller aborted (a session request, a manifest race another provider won). */
  ABORTED: 'ERR_ABORTED',
  /** Withdrawn: a fetch cancelled by its user, a request withdrawn by CANCEL, a lab stopped. */
  CANCELLED: 'ERR_CANCELLED',
  /** The disk holding the data dir is full (DiskFullError). */
  DISK_FULL: 'ERR_DISK_FULL',
  /** Raised by Node's module loader for an import that does not resolve (not one of ours). */
  MODULE_NOT_FOUND: 'ERR_MODULE_NOT_FOUND',

  // The local API and its client
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  BAD_PEER_ID: 'ERR_BAD_PEER_ID',
  UNAUTHORIZED: 'ERR_UNAUTHORIZED',
  BAD_ORIGIN: 'ERR_BAD_ORIGIN',
  BAD_HOST: 'ERR_BAD_HOST',
  NOT_FOUND: 'ERR_NOT_FOUND',
  /** The API server or the daemon's reply broke (no address, a non-JSON or cut-off reply). */
  API: 'ERR_API',
  /** No daemon answers at the data dir's or the given API address. */
  DAEMON_NOT_RUNNING: 'ERR_DAEMON_NOT_RUNNING',
  /** The client, or a CLI command's --timeout, gave up waiting. */
  TIMEOUT: 'ERR_TIMEOUT',

  // The node and its CLI
  /** libp2p did not start. */
  START: 'ERR_START',
  /** The node is stopping: its running transfers end with this. */
  SHUTDOWN: 'ERR_SHUTDOWN',
  /** Another bwnode process holds the data dir. */
  DATA_DIR_IN_USE: 'ERR_DATA_DIR_IN_USE',
  /** An add failed with no code of its own. */
  ADD: 'ERR_ADD',
  /** A fetch failed with no code of its own (also the metric label of such a failure). */
  FETCH: 'ERR_FETCH',
  FETCH_RUNNING: 'ERR_FETCH_RUNNING',
  OUT_EXISTS: 'ERR_OUT_EXISTS',
  /** The CLI was interrupted (Ctrl-C) while following a job that goes on in the daemon. */
  INTERRUPTED: 'ERR_INTERRUPTED',
  /** A fetch asked of a node with no peers, for a dataset it does not hold. */
  NO_PEERS: 'ERR_NO_PEERS',
  /** A peer command named this node itself. */
  SELF: 'ERR_SELF',
  /** A peer this node has no address for and no peers to look it up through. */
  PEER_UNKNOWN: 'ERR_PEER_UNKNOWN',
  /** A peer the DHT did not find. */
  PEER_NOT_FOUND: 'ERR_PEER_NOT_FOUND',
  /** A peer that did not answer a ping. */
  PEER_UNREACHABLE: 'ERR_PEER_UNREACHABLE',

  // Store, manifests, seeds
  INVALID_CID: 'ERR_INVALID_CID',
  INVALID_CHUNK_SIZE: 'ERR_INVALID_CHUNK_SIZE',
  INVALID_MANIFEST: 'ERR_INVALID_MANIFEST',
  MANIFEST_TOO_LARGE: 'ERR_MANIFEST_TOO_LARGE',
  MANIFEST_HASH_MISMATCH: 'ERR_MANIFEST_HASH_MISMATCH',
  CHUNK_TOO_LARGE: 'ERR_CHUNK_TOO_LARGE',
  /** Chunk bytes do not hash to the requested CID. */
  CHUNK_HASH_MISMATCH: 'ERR_CHUNK_HASH_MISMATCH',
  /** An export met a chunk the store does not hold. */
  CHUNK_MISSING: 'ERR_CHUNK_MISSING',
  /** An export met a chunk whose file no longer hashes to its CID. */
  CHUNK_CORRUPT: 'ERR_CHUNK_CORRUPT',
  DATASET_NOT_FOUND: 'ERR_DATASET_NOT_FOUND',
  DATASET_INCOMPLETE: 'ERR_DATASET_INCOMPLETE',
  INVALID_NAME: 'ERR_INVALID_NAME',
  /** Neither a regular file nor a directory, or a file name that cannot be shared. */
  UNSUPPORTED_FILE: 'ERR_UNSUPPORTED_FILE',
  UNKNOWN_SEED: 'ERR_UNKNOWN_SEED',
  INVALID_RECIPE: 'ERR_INVALID_RECIPE',
  INVALID_SCALE: 'ERR_INVALID_SCALE',
  UNSUPPORTED_PLATFORM: 'ERR_UNSUPPORTED_PLATFORM',

  // Fetching
  NO_PROVIDERS: 'ERR_NO_PROVIDERS',
  /** The fetch is over: requests still open to peers that never became providers are withdrawn. */
  FETCH_DONE: 'ERR_FETCH_DONE',
  /** A request moved to a provider that is free (not the first provider's fault). */
  REASSIGNED: 'ERR_REASSIGNED',
  /** An endgame copy another provider delivered first (not this provider's fault). */
  DUPLICATE: 'ERR_DUPLICATE',
  CHUNK_TIMEOUT: 'ERR_CHUNK_TIMEOUT',
  /** The scheduler dropped the provider a request was on. */
  PROVIDER_DROPPED: 'ERR_PROVIDER_DROPPED',

  // Chunk protocol: sent in ERROR frames (src/protocols/chunk/codes.ts documents each)
  BUSY: 'ERR_BUSY',
  PAYMENT_REQUIRED: 'ERR_PAYMENT_REQUIRED',
  PAYMENT_DISCONNECT: 'ERR_PAYMENT_DISCONNECT',
  BAD_VOUCHER: 'ERR_BAD_VOUCHER',
  PEER_DROPPED: 'ERR_PEER_DROPPED',
  TOO_LARGE: 'ERR_TOO_LARGE',
  LENDING_CLOSED: 'ERR_LENDING_CLOSED',
  // Chunk protocol: local, raised by the client or the framing layer
  UNSUPPORTED_HASH: 'ERR_UNSUPPORTED_HASH',
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  BAD_FRAME: 'ERR_BAD_FRAME',
  UNEXPECTED_EOF: 'ERR_UNEXPECTED_EOF',
  READ_TIMEOUT: 'ERR_READ_TIMEOUT',
  IDLE_TIMEOUT: 'ERR_IDLE_TIMEOUT',
  DRAIN_TIMEOUT: 'ERR_DRAIN_TIMEOUT',
  STREAM_CLOSED: 'ERR_STREAM_CLOSED',

  // Serving limits
  /** A semaphore released more often than acquired. */
  SEMAPHORE: 'ERR_SEMAPHORE',

  // Offer records (OfferError)
  OFFER_TOO_LARGE: 'ERR_OFFER_TOO_LARGE',
  OFFER_MALFORMED: 'ERR_OFFER_MALFORMED',
  OFFER_BAD_KEY: 'ERR_OFFER_BAD_KEY',
  OFFER_KEY_MISMATCH: 'ERR_OFFER_KEY_MISMATCH',
  OFFER_UNSUPPORTED_KEY: 'ERR_OFFER_UNSUPPORTED_KEY',
  OFFER_BAD_SIGNATURE: 'ERR_OFFER_BAD_SIGNATURE',
  OFFER_EXPIRED: 'ERR_OFFER_EXPIRED',
  OFFER_NOT_YET_VALID: 'ERR_OFFER_NOT_YET_VALID',

  // Ledger: vouchers a peer sent (VoucherRejected), and this node's own payments
  VOUCHER_MALFORMED: 'ERR_VOUCHER_MALFORMED',
  VOUCHER_SIGNATURE: 'ERR_VOUCHER_SIGNATURE',
  VOUCHER_PAYEE: 'ERR_VOUCHER_PAYEE',
  VOUCHER_PAYER: 'ERR_VOUCHER_PAYER',
  VOUCHER_SELF: 'ERR_VOUCHER_SELF',
  VOUCHER_REPLAY: 'ERR_VOUCHER_REPLAY',
  VOUCHER_PRICE: 'ERR_VOUCHER_PRICE',
  VOUCHER_AMOUNT: 'ERR_VOUCHER_AMOUNT',
  /** A key asked to sign a voucher whose payer is another peer. */
  VOUCHER_SIGNER: 'ERR_VOUCHER_SIGNER',
  INSUFFICIENT_CREDITS: 'ERR_INSUFFICIENT_CREDITS',
  INVALID_PRICE: 'ERR_INVALID_PRICE',
  INVALID_BYTES: 'ERR_INVALID_BYTES',
  CHANNEL_CLOSED: 'ERR_CHANNEL_CLOSED',
  /** The ledger was used before it was opened, or opened twice. */
  LEDGER_STATE: 'ERR_LEDGER_STATE',
  /** `bwnode credits verify` found vouchers or balances that do not check. */
  LEDGER_INVALID: 'ERR_LEDGER_INVALID',

  // Latency measurements
  INVALID_RTT: 'ERR_INVALID_RTT',
  INVALID_COORDINATE: 'ERR_INVALID_COORDINATE',
  INVALID_LATENCY: 'ERR_INVALID_LATENCY',
  INVALID_PERCENTILE: 'ERR_INVALID_PERCENTILE',
  INVALID_HISTOGRAM: 'ERR_INVALID_HISTOGRAM',
  HISTOGRAM_DECODE: 'ERR_HISTOGRAM_DECODE',

  // Link emulator preamble (labs)
  LINK_PREAMBLE_MAGIC: 'ERR_LINK_PREAMBLE_MAGIC',
  LINK_PREAMBLE_VERSION: 'ERR_LINK_PREAMBLE_VERSION',
  LINK_PREAMBLE_LENGTH: 'ERR_LINK_PREAMBLE_LENGTH',
  LINK_PREAMBLE_INVALID: 'ERR_LINK_PREAMBLE_INVALID',
  LINK_PREAMBLE_TIMEOUT: 'ERR_LINK_PREAMBLE_TIMEOUT',
  LINK_PREAMBLE_EOF: 'ERR_LINK_PREAMBLE_EOF',

  // Lab and experiment
  LAB: 'ERR_LAB',
  LAB_NODE: 'ERR_LAB_NODE',
  LAB_FETCH: 'ERR_LAB_FETCH',
  LAB_TIMEOUT: 'ERR_LAB_TIMEOUT',
  RESULTS_INVALID: 'ERR_RESULTS_INVALID',
  STATS_EMPTY: 'ERR_STATS_EMPTY',
} as const satisfies Record<string, `ERR_${string}`>

/** A code bwnode raises or knows. Codes read from a peer or a daemon may be any string. */
export type ErrorCode = (typeof ERR)[keyof typeof ERR]

/**
 * A code another process sent (a peer's ERROR frame, a daemon's reply, a job's recorded error):
 * passed on as it came, which may be one this build does not know. Only such codes enter a
 * BwnodeError without being one of ERR's.
 */
export type RelayedCode = string & { readonly __relayed: true }

export function relayedCode(code: string): RelayedCode {
  return code as RelayedCode
}

/**
 * Both payment refusals of the chunk protocol (ERR_PAYMENT_REQUIRED, ERR_PAYMENT_DISCONNECT),
 * and any other a peer sends under that prefix: a payment dispute, never a lost session.
 */
export function isPaymentCode(code: string): boolean {
  return code.startsWith('ERR_PAYMENT')
}

/**
 * The codes the local API answers with a status other than 500, and what each means. The
 * API's status map is this table (src/api/server.ts); docs/API.md's error table lists the same
 * codes under the same statuses, and every code here is one the code base raises
 * (tests/unit/error-codes.test.ts). Any other code is a 500 that still says what went wrong.
 */
export const API_ERROR_CODES = {
  [ERR.BAD_REQUEST]: { status: 400, meaning: 'the body or query failed validation' },
  [ERR.BAD_PEER_ID]: { status: 400, meaning: 'not a peer id' },
  [ERR.INVALID_CID]: { status: 400, meaning: 'not a dataset CID' },
  [ERR.INVALID_CHUNK_SIZE]: { status: 400, meaning: 'chunk size outside 64 KiB..4 MiB' },
  [ERR.UNKNOWN_SEED]: { status: 400, meaning: 'no seed recipe of that name' },
  [ERR.UNAUTHORIZED]: { status: 401, meaning: 'a state change without the API token' },
  [ERR.INSUFFICIENT_CREDITS]: { status: 402, meaning: 'the fetch costs more than the balance' },
  [ERR.BAD_ORIGIN]: { status: 403, meaning: "a browser's state change from another site" },
  [ERR.NOT_FOUND]: { status: 404, meaning: 'no such route, transfer or path' },
  [ERR.DATASET_NOT_FOUND]: { status: 404, meaning: 'the dataset is not in this store' },
  [ERR.NO_PROVIDERS]: { status: 404, meaning: 'nobody could be found who serves the dataset' },
  [ERR.FETCH_RUNNING]: {
    status: 409,
    meaning:
      'that dataset is being fetched (a second fetch, or removing it, waits until it ends or is cancelled)',
  },
  [ERR.OUT_EXISTS]: { status: 409, meaning: 'the output path exists' },
  [ERR.DATASET_INCOMPLETE]: { status: 409, meaning: 'the file asked for is not all in this store yet' },
  [ERR.BAD_HOST]: { status: 421, meaning: 'a Host header the API does not answer to' },
  [ERR.DISK_FULL]: { status: 507, meaning: 'the disk holding the data dir is full' },
} as const satisfies Partial<Record<ErrorCode, { status: number; meaning: string }>>

export type ApiErrorCode = keyof typeof API_ERROR_CODES

/** The HTTP status the API answers a code with; undefined for codes that are a 500. */
export function httpStatusOf(code: string): number | undefined {
  return Object.hasOwn(API_ERROR_CODES, code) ? API_ERROR_CODES[code as ApiErrorCode].status : undefined
}
