/**
 * `bwnode config show` prints the effective config; a field that holds a secret is printed as
 * ELIDED instead. The config has none today (the API token lives in <data>/api-token, the
 * identity in <data>/peer.key, neither in the config); the rule covers any field whose name says
 * it is one, so a future one cannot leak through `config show` unnoticed.
 */
export const ELIDED = '(elided)'

const SECRET_NAME = /(token|secret|password|passphrase|privatekey|private_key|apikey|api_key)$/i

export function elideSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => elideSecrets(item)) as T
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    out[key] = SECRET_NAME.test(key) && field !== undefined && field !== null ? ELIDED : elideSecrets(field)
  }
  return out as T
}
