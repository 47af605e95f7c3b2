import { readFileSync } from 'node:fs'

/**
 * The version in a package.json (bwnode's own by default): `--version`, the API's status and
 * `bwnode_build_info` read it, never a copy.
 */
export function packageVersion(path: string | URL = new URL('../../package.json', import.meta.url)): string {
  const pkg = JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown }
  if (typeof pkg.version !== 'string') throw new Error(`${String(path)}: no "version"`)
  return pkg.version
}
