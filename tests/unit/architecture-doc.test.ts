import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/source-tree.ts'

/** Every file docs/ARCHITECTURE.md names in backticks (`node/serving.ts`, `scripts/nat-lab.sh`, ...). */
function namedFiles(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8')
  const names = new Set<string>()
  for (const [, path] of doc.matchAll(/`([\w.-]+(?:\/[\w.-]+)+\.(?:ts|js|sh|json|css|html))(?::\w+)?`/g)) {
    if (path !== undefined) names.add(path)
  }
  return [...names]
}

describe('docs/ARCHITECTURE.md is true to the tree', () => {
  it('names files (a doc whose paths this test could not read would pass everything)', () => {
    expect(namedFiles().length).toBeGreaterThan(40)
  })

  it('every file it names exists, under the repository or src/', () => {
    const missing = namedFiles().filter(
      (path) => !existsSync(join(ROOT, path)) && !existsSync(join(ROOT, 'src', path)),
    )
    expect(missing).toEqual([])
  })

  it('names every folder of src/', () => {
    const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8')
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory())
    expect(folders.length).toBeGreaterThan(10)
    expect(folders.map((f) => f.name).filter((name) => !doc.includes(`${name}/`))).toEqual([])
  })
})
