import { constants } from 'node:fs'
import { access, chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { ConfigError } from '../errors/index.ts'

/**
 * The node's identity is an Ed25519 key kept in `<data>/peer.key` (protobuf,
 * mode 0600), so the peer id survives restarts. A damaged key file is an
 * error, never silently replaced: replacing it would change the peer id and
 * orphan every voucher and DHT record signed with the old one.
 */
export const KEY_FILE = 'peer.key'

export async function ensureDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true })
    await access(dataDir, constants.W_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new ConfigError(`dataDir ${dataDir}: not writable (${code})`)
  }
}

export async function loadOrCreateIdentity(
  dataDir: string,
): Promise<{ privateKey: PrivateKey; created: boolean }> {
  await ensureDataDir(dataDir)
  const path = join(dataDir, KEY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code})`)
    }
  }
  if (bytes !== undefined) {
    try {
      return { privateKey: privateKeyFromProtobuf(bytes), created: false }
    } catch (err) {
      throw new ConfigError(`${path}: not a valid libp2p private key (${(err as Error).message})`)
    }
  }
  const privateKey = await generateKeyPair('Ed25519')
  const temp = `${path}.tmp`
  await writeFile(temp, privateKeyToProtobuf(privateKey), { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, path)
  return { privateKey, created: true }
}
