/**
 * Formatting shared by the report's sections: numbers, shares, spreads, sizes and markdown tables.
 */
import type { RenderedChart } from './charts.ts'
import type { RatioInterval, Spread } from './stats.ts'
import type { Cell } from './types.ts'

export const CHARTS_DIR = 'charts'

export function num(n: number | undefined, digits = 3): string {
  if (n === undefined || Number.isNaN(n)) return 'n/a'
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf'
  if (n === 0) return '0'
  const abs = Math.abs(n)
  if (abs >= 1000) return n.toFixed(0)
  if (abs >= 1) return Number(n.toPrecision(digits + 1)).toString()
  return Number(n.toPrecision(digits)).toString()
}

export function pct(x: number | undefined): string {
  return x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`
}

export function medianRange(s: Spread | undefined): string {
  return s === undefined ? 'n/a' : `${num(s.median)} [${num(s.min)}-${num(s.max)}]`
}

export function interval(r: RatioInterval | undefined): string {
  if (r === undefined) return 'n/a'
  const ci = r.method === 'bootstrap' ? `${num(r.low)}-${num(r.high)}` : 'no interval (single run)'
  return `${num(r.ratio)}x (95% CI ${ci})`
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export function chartLink(charts: readonly RenderedChart[], file: string): string {
  const c = charts.find((x) => x.file === file)
  return c === undefined
    ? '_(no data for this chart in these results)_'
    : `![${c.title}](${CHARTS_DIR}/${c.file})\n\nChart: [${c.title}](${CHARTS_DIR}/${c.file})`
}

export function where(cell: Cell): string {
  const parts: string[] = []
  if (cell.distanceKm !== undefined) parts.push(`${num(cell.distanceKm)} km`)
  if (cell.k !== undefined) parts.push(`k=${cell.k}`)
  return parts.join(', ') || '-'
}

export function fidelityText(cell: Cell): string {
  const label = cell.fidelity?.label ?? 'n/a'
  const k = cell.dilation !== undefined ? `, K=${cell.dilation.factor}` : ''
  const moved =
    cell.dilation?.check !== undefined
      ? `, moved ${pct(cell.dilation.check.moved)} at K=${cell.dilation.check.factor}`
      : ''
  return `${label}${k}${moved}`
}
