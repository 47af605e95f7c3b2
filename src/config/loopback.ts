/** Is this API host reachable only from this machine? (Kept light: the CLI imports it at start-up.) */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
