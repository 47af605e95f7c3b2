import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** The repository's root. */
export const ROOT = resolve(import.meta.dirname, '../..')

/** Repository-relative paths of the files under `dir` (relative to the root) whose names match `pattern`. */
export function filesUnder(dir: string, pattern: RegExp = /\.ts$/): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) return filesUnder(path, pattern)
    return pattern.test(path) ? [path] : []
  })
}
