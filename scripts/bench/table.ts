import type { BenchResult } from './types.ts'

/** A plain-text table: figure, value, unit, target, pass/fail. */
export function formatTable(results: BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    Number.isFinite(r.value) ? String(r.value) : 'n/a',
    r.unit,
    r.target ?? '',
    r.pass === null ? '' : r.pass ? 'pass' : 'FAIL',
  ])
  const header = ['figure', 'value', 'unit', 'target', 'result']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)))
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** The same table in Markdown, for docs/BENCHMARKS.md. */
export function formatMarkdown(results: BenchResult[]): string {
  const lines = ['| figure | value | unit | target | result |', '| --- | ---: | --- | --- | --- |']
  for (const r of results) {
    const value = Number.isFinite(r.value) ? String(r.value) : 'n/a'
    const result = r.pass === null ? '' : r.pass ? 'pass' : 'FAIL'
    lines.push(`| ${r.name} | ${value} | ${r.unit} | ${r.target ?? ''} | ${result} |`)
  }
  return lines.join('\n')
}
