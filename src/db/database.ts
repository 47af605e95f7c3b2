import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { ConfigError } from '../errors/index.ts'

/**
 * The node's LevelDB. Every module keeps its keys in its own sublevel
 * (`db.sublevel('store', ...)`), so prefixes never collide. The root holds one
 * key, `schema-version`, checked on open: a data dir written by a newer bwnode
 * is refused instead of being silently rewritten.
 */
export const SCHEMA_VERSION = 1
const SCHEMA_KEY = 'schema-version'

export type Database = Level<string, string>

export async function openDatabase(dataDir: string): Promise<Database> {
  const location = join(dataDir, 'db')
  await mkdir(location, { recursive: true })
  const db = new Level<string, string>(location)
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: Error }).cause
    throw new ConfigError(`${location}: cannot open LevelDB (${cause?.message ?? (err as Error).message})`, {
      cause: err,
    })
  }
  const stored = await db.get(SCHEMA_KEY)
  if (stored === undefined) {
    await db.put(SCHEMA_KEY, String(SCHEMA_VERSION))
  } else if (Number(stored) !== SCHEMA_VERSION) {
    await db.close()
    throw new ConfigError(
      `${location}: schema-version ${stored} is not supported (this bwnode reads version ${SCHEMA_VERSION}); ` +
        'use the bwnode release that wrote it, or another --data dir',
    )
  }
  return db
}
