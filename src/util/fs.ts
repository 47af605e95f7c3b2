import { lstat, readFile } from 'node:fs/promises'

/** A file system error that says the path is not there. */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT'
}

/** Is there anything (a symlink counts, dangling or not) at `path`? Errors other than "not there" throw. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw err
  }
}

/** A text file's contents, or undefined when it is not there; other errors throw. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}
