import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { API_ERROR_CODES, ERR, httpStatusOf } from '../../src/errors/codes.ts'
import { filesUnder, ROOT } from '../helpers/source-tree.ts'

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

const REGISTRY = 'src/errors/codes.ts'

/** Code literals allowed outside the registry, by file, each with its reason: none. */
const LITERALS_ALLOWED: Record<string, string[]> = {}

/** src/ as path (from the root) -> text, the registry left out. */
function sources(): Map<string, string> {
  return new Map(
    filesUnder('src', /\.[jt]s$/)
      .filter((path) => path !== REGISTRY)
      .map((path) => [path, readFileSync(join(ROOT, path), 'utf8')]),
  )
}

describe('API error codes: one registry', () => {
  it('docs/API.md lists the codes of src/errors/codes.ts under the same statuses', () => {
    const registry = new Map(Object.entries(API_ERROR_CODES).map(([code, { status }]) => [code, status]))
    expect(Object.fromEntries(documentedCodes())).toEqual(Object.fromEntries(registry))
  })

  it('every registered code is one the code base raises or reads', () => {
    const text = [...sources().values()].join('\n')
    const allowed = new Set(Object.values(LITERALS_ALLOWED).flat())
    const unused = Object.entries(ERR)
      .filter(([key, code]) => !new RegExp(`\\bERR\\.${key}\\b`).test(text) && !allowed.has(code))
      .map(([, code]) => code)
    expect(unused).toEqual([])
  })

  it("names each code by its spelling: a key is its code without 'ERR_', no code twice", () => {
    for (const [key, code] of Object.entries(ERR)) expect(code).toBe(`ERR_${key}`)
    expect(new Set(Object.values(ERR)).size).toBe(Object.keys(ERR).length)
  })

  it('no error code is spelled as a string outside the registry (compare and throw ERR.*)', () => {
    const free: string[] = []
    for (const [path, text] of sources()) {
      const allowed = LITERALS_ALLOWED[path] ?? []
      for (const match of text.matchAll(/['"`](ERR_[A-Z0-9_]*)/g)) {
        if (allowed.includes(match[1] ?? '')) continue
        const line = text.slice(0, match.index).split('\n').length
        free.push(`${path}:${line} ${match[1]}`)
      }
    }
    expect(free).toEqual([])
  })

  it('maps a code to its status, and anything else to none (a 500)', () => {
    expect(httpStatusOf('ERR_DATASET_NOT_FOUND')).toBe(404)
    expect(httpStatusOf('ERR_DISK_FULL')).toBe(507)
    expect(httpStatusOf('ERR_INTERNAL')).toBeUndefined()
    expect(httpStatusOf('toString')).toBeUndefined()
  })
})
