/**
 * Small files in the data dir that only the owner may read (the API token), written once and
 * kept: created with mode 0600 and O_EXCL, replaced atomically (temp file + rename).
 */
import { randomBytes } from 'node:crypto'
import { chmod, rename, rm, writeFile } from 'node:fs/promises'
import { ConfigError } from '../errors/index.ts'
import { readTextIfExists } from './fs.ts'

/** 192 random bits, hex. */
export function newToken(): string {
  return randomBytes(24).toString('hex')
}

/** What a token file may hold: printable ASCII without spaces, 16 to 512 characters. */
const TOKEN_TEXT = /^[\x21-\x7e]{16,512}$/

async function readToken(path: string): Promise<string | undefined> {
  const text = await readTextIfExists(path)
  if (text === undefined) return undefined
  const token = text.trim()
  if (!TOKEN_TEXT.test(token)) {
    throw new ConfigError(
      `${path}: not a token (16 to 512 printable characters without spaces); delete it to have a new one made`,
    )
  }
  return token
}

/** The token in `path`, made (mode 0600) the first time; `created` says whether it was. */
export async function readOrCreateToken(path: string): Promise<{ token: string; created: boolean }> {
  const existing = await readToken(path)
  if (existing !== undefined) return { token: existing, created: false }
  const token = newToken()
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // Another process made it first: theirs is the token.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateToken(path)
    throw err
  }
  return { token, created: true }
}

/** Replaces the token in `path` with a new one, atomically, mode 0600. */
export async function writeNewToken(path: string): Promise<string> {
  const token = newToken()
  const temp = `${path}.${process.pid}.tmp`
  try {
    await writeFile(temp, `${token}\n`, { mode: 0o600, flag: 'wx' })
    await chmod(temp, 0o600)
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  return token
}
