import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { API_ERROR_CODES, httpStatusOf } from '../../src/errors/codes.ts'

const ROOT = join(import.meta.dirname, '../..')

/** docs/API.md's error table as code -> status (the 500 row names no codes). */
function documentedCodes(): Map<string, number> {
  const doc = readFileSync(join(ROOT, 'docs/API.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## Errors'), doc.indexOf('\n## ', doc.indexOf('## Errors') + 1))
  const out = new Map<string, number>()
  for (const [, status, cells] of section.matchAll(/^\| (\d{3}) \| (.*) \|$/gm)) {
    for (const [, code] of (cells ?? '').matchAll(/`(ERR_[A-Z_]+)`/g)) {
      expect(out.has(code ?? ''), `${code} listed twice in docs/API.md`).toBe(false)
      out.set(code ?? '', Number(status))
    }
  }
  return out
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('API error codes: one registry', () => {
  it('docs/API.md lists the codes of src/errors/codes.ts under the same statuses', () => {
    const registry = new Map(Object.entries(API_ERROR_CODES).map(([code, { status }]) => [code, status]))
    expect(Object.fromEntries(documentedCodes())).toEqual(Object.fromEntries(registry))
  })

  it('every registered code is one the code base raises', () => {
    const registryFile = join(ROOT, 'src/errors/codes.ts')
    const sources = sourceFiles(join(ROOT, 'src'))
      .filter((path) => path !== registryFile)
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n')
    const unused = Object.keys(API_ERROR_CODES).filter((code) => !sources.includes(`'${code}'`))
    expect(unused).toEqual([])
  })

  it('maps a code to its status, and anything else to none (a 500)', () => {
    expect(httpStatusOf('ERR_DATASET_NOT_FOUND')).toBe(404)
    expect(httpStatusOf('ERR_DISK_FULL')).toBe(507)
    expect(httpStatusOf('ERR_INTERNAL')).toBeUndefined()
    expect(httpStatusOf('toString')).toBeUndefined()
  })
})
