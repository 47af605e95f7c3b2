import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { filesUnder, ROOT } from '../helpers/source-tree.ts'

/**
 * The arrows of docs/ARCHITECTURE.md, checked over the import graph: cli -> api -> node ->
 * services -> store, the lab and the experiment beside them, scripts beside tests. Every
 * relative import of src/ and scripts/ is read with the TypeScript parser; `import type` is
 * erased at run time and is told apart (a `type` on each name is not: the module still loads).
 */

interface Edge {
  from: string
  /** Repository-relative path for a relative import, else the package specifier. */
  to: string
  /** `import type` / `export type`, or a type position (`import('x').T`): nothing loads. */
  typeOnly: boolean
}

function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(ROOT, file), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  )
  const edges: Edge[] = []
  const add = (specifier: string, typeOnly: boolean): void => {
    const to = specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), specifier)) : specifier
    edges.push({ from: file, to, typeOnly })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly === true)
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly)
    } else if (ts.isImportTypeNode(node)) {
      const literal = ts.isLiteralTypeNode(node.argument) ? node.argument.literal : undefined
      if (literal !== undefined && ts.isStringLiteral(literal)) add(literal.text, true)
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return edges
}

const FILES = [...filesUnder('src'), ...filesUnder('scripts')]
const EDGES = FILES.flatMap(importsOf)

/** `src/client/api-client.ts` -> 'client/api-client.ts'; `scripts/x.ts` -> 'scripts/x.ts'; a package as it is. */
const place = (path: string): string => (path.startsWith('src/') ? path.slice('src/'.length) : path)

const SERVICES = ['fetch/', 'protocols/', 'ledger/', 'latency/', 'net/']
const ABOVE_NODE = ['cli/', 'daemon/', 'api/', 'client/', 'lab/', 'experiment/']
/** The CLI's commands that talk to a running daemon (start, init, lab and experiment run things). */
const CLIENT_COMMANDS = [
  'cli/common.ts',
  'cli/output.ts',
  'cli/progress.ts',
  'cli/commands/admin.ts',
  'cli/commands/datasets.ts',
  'cli/commands/fetch.ts',
  'cli/commands/market.ts',
  'cli/commands/peers.ts',
]

/**
 * The rules: a file under `from` (a prefix of its place) imports nothing under any of `never`.
 * Type-only imports count too, except from contract/ (the API contract), which every side shares.
 */
const RULES: Array<{ from: string[]; never: string[]; why: string }> = [
  {
    from: ['node/'],
    never: ABOVE_NODE,
    why: 'the node serves the API; it never imports it, the CLI or the labs',
  },
  {
    from: SERVICES,
    never: [...ABOVE_NODE, 'node/'],
    why: 'services (fetch, protocols, ledger, latency, net) sit below the node',
  },
  {
    from: ['store/', 'db/'],
    never: [...ABOVE_NODE, 'node/', ...SERVICES],
    why: 'the store never imports the network or the node',
  },
  {
    from: ['config/'],
    never: [...ABOVE_NODE, 'node/', ...SERVICES],
    why: 'configuration is read by all, reads none',
  },
  {
    from: ['util/', 'errors/'],
    never: [...ABOVE_NODE, 'node/', ...SERVICES, 'store/', 'db/', 'config/'],
    why: 'shared helpers are leaves',
  },
  {
    from: ['api/'],
    never: ['cli/', 'daemon/', 'client/', 'lab/', 'experiment/'],
    why: 'the API server is below the CLI and the labs, and no client of itself',
  },
  {
    from: CLIENT_COMMANDS,
    never: ['daemon/', 'node/', ...SERVICES, 'store/', 'db/'],
    why: 'a command that talks to a daemon does so over HTTP only',
  },
  { from: ['lab/', 'experiment/'], never: ['cli/'], why: 'the labs use the API client, not the CLI' },
  { from: ['scripts/'], never: ['tests/'], why: 'scripts never import tests (tests may import scripts)' },
]

/** Imports the rules allow although they cross an arrow, each with its reason. */
const EXCEPTIONS: Array<{ from: string; to: string; why: string }> = [
  {
    from: 'cli/commands/fetch.ts',
    to: 'store/cid.ts',
    why: 'refuses a malformed CID before any request (loaded lazily; it needs only multiformats)',
  },
]

const SHARED_CONTRACT = 'contract/'

function violations(): string[] {
  const out: string[] = []
  for (const edge of EDGES) {
    const from = place(edge.from)
    const to = place(edge.to)
    if (to.startsWith(SHARED_CONTRACT) && edge.typeOnly) continue
    if (EXCEPTIONS.some((e) => e.from === from && e.to === to)) continue
    for (const rule of RULES) {
      if (!rule.from.some((prefix) => from.startsWith(prefix))) continue
      if (rule.from.some((prefix) => from.startsWith(prefix) && to.startsWith(prefix))) continue
      const hit = rule.never.find((prefix) => to.startsWith(prefix))
      if (hit !== undefined) out.push(`${edge.from} imports ${edge.to} (${rule.why})`)
    }
  }
  return out
}

/** Every module a file loads at run time, itself included: relative runtime imports, followed. */
function runtimeClosure(file: string): Set<string> {
  const seen = new Set<string>()
  const queue = [file]
  while (queue.length > 0) {
    const next = queue.pop() as string
    if (seen.has(next)) continue
    seen.add(next)
    for (const edge of EDGES) {
      if (edge.from !== next || edge.typeOnly) continue
      if (edge.to.startsWith('src/') || edge.to.startsWith('scripts/')) queue.push(edge.to)
      else seen.add(edge.to)
    }
  }
  return seen
}

/** What a small client process must never load: the server, the node, libp2p, LevelDB. */
const HEAVY = [
  /^fastify/,
  /^libp2p$/,
  /^@libp2p\//,
  /^@chainsafe\//,
  /^level$/,
  /^src\/node\//,
  /^src\/api\/(server|routes)/,
]

describe('the import graph keeps the documented arrows', () => {
  it('reads the graph (a parser that found nothing would pass everything)', () => {
    expect(FILES.length).toBeGreaterThan(100)
    expect(EDGES.some((e) => e.from === 'src/daemon/daemon.ts' && e.to === 'src/api/server.ts')).toBe(true)
    expect(
      EDGES.some((e) => e.from === 'src/node/queries.ts' && e.to === 'src/contract/api.ts' && e.typeOnly),
    ).toBe(true)
  })

  it('no import runs against an arrow', () => {
    expect(violations()).toEqual([])
  })

  it('the rules bite: an import from node/ to api/server.ts would be refused', () => {
    EDGES.push({ from: 'src/node/bwnode.ts', to: 'src/api/server.ts', typeOnly: false })
    try {
      expect(violations()).toEqual([
        'src/node/bwnode.ts imports src/api/server.ts (the node serves the API; it never imports it, the CLI or the labs)',
      ])
    } finally {
      EDGES.pop()
    }
  })

  it('the API contract loads nothing', () => {
    const runtime = EDGES.filter((e) => e.from === 'src/contract/api.ts' && !e.typeOnly)
    expect(runtime).toEqual([])
  })

  it('the API client, and the lab process that uses it, load neither the node nor the server', () => {
    for (const file of ['src/client/api-client.ts', 'src/lab/process.ts']) {
      const heavy = [...runtimeClosure(file)].filter((m) => HEAVY.some((pattern) => pattern.test(m)))
      expect(heavy, file).toEqual([])
    }
  })

  it('the exceptions are still needed', () => {
    for (const e of EXCEPTIONS) {
      expect(
        EDGES.some((edge) => place(edge.from) === e.from && place(edge.to) === e.to),
        `${e.from} -> ${e.to}`,
      ).toBe(true)
    }
  })
})
