import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { filesUnder, ROOT } from '../helpers/source-tree.ts'

/** `file:line #name` for every ES private name (`#name`) in a file, read with the TypeScript parser. */
function privateNames(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isPrivateIdentifier(node)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart())
      found.push(`${file}:${line + 1} ${node.text}`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('one style of private members', () => {
  it("the parser sees a '#name' (a check that could see none would pass everything)", () => {
    const probe = ts.createSourceFile('probe.ts', 'class A { #x = 1 }', ts.ScriptTarget.Latest, true)
    let seen = false
    const visit = (node: ts.Node): void => {
      seen ||= ts.isPrivateIdentifier(node)
      ts.forEachChild(node, visit)
    }
    visit(probe)
    expect(seen).toBe(true)
  })

  it("classes in src/ and scripts/ keep members private with TypeScript's `private`, not '#name'", () => {
    const files = [...filesUnder('src'), ...filesUnder('scripts')]
    expect(files.length).toBeGreaterThan(100)
    expect(files.flatMap(privateNames)).toEqual([])
  })
})
