/**
 * Small files in the data dir that only the owner may read (the API token), written once and
 * kept: created with mode 0600 whole (temp file + link, so a reader never sees half of one),
 * replaced atomically (temp file + rename).
 */
import { randomBytes } from 'node:crypto'
import { chmod, link, rename, rm, writeFile } from 'node:fs/promises'
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
  // Written whole under a temp name, then linked into place: link() fails if the file exists and
  // never shows a half-written one, so a process that loses the race reads the winner's token.
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(temp, `${token}\n`, { mode: 0o600, flag: 'wx' })
    await link(temp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateToken(path)
    throw err
  } finally {
    await rm(temp, { force: true })
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
