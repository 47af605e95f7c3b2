/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4),
 * enough to check that /metrics is well formed: HELP/TYPE lines, samples
 * with labels, every sample belonging to a declared family.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const SUFFIXES: Record<MetricType, string[]> = {
  counter: ['', '_total'],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  // Prometheus reads floats with Go's ParseFloat, which takes NaN in any case; prom-client writes
  // "Nan" (nodejs_eventloop_lag_mean_seconds between two scrapes closer than its resolution).
  if (/^nan$/i.test(text)) return Number.NaN
  const value = Number(text)
  if (text.trim() === '' || Number.isNaN(value))
    throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`)
  return value
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`line ${line}: label without '='`)
    const name = text.slice(i, eq).trim()
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`)
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value must be quoted`)
    let value = ''
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j]
        value += next === 'n' ? '\n' : (next ?? '')
      } else value += text[j]
    }
    if (text[j] !== '"') throw new Error(`line ${line}: unterminated label value`)
    if (name in labels) throw new Error(`line ${line}: repeated label ${name}`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (i < text.length) throw new Error(`line ${line}: expected ',' between labels`)
  }
  return labels
}

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const familyOf = (sampleName: string): Family | undefined => {
    for (const family of families.values()) {
      if (SUFFIXES[family.type].some((suffix) => family.name + suffix === sampleName)) return family
    }
    return undefined
  }
  text.split('\n').forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === '') return
    if (raw.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw)
      if (match === null) return // a plain comment
      const [, kind, name, rest] = match as unknown as [string, 'HELP' | 'TYPE', string, string]
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`)
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] }
      if (kind === 'HELP') family.help = rest
      else {
        if (!(rest in SUFFIXES)) throw new Error(`line ${line}: unknown type ${rest}`)
        if (family.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`)
        family.type = rest as MetricType
      }
      families.set(name, family)
      return
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(raw)
    if (match === null) throw new Error(`line ${line}: not a sample: ${raw}`)
    const [, name, labelText, valueText] = match as unknown as [string, string, string | undefined, string]
    const family = familyOf(name)
    if (family === undefined) throw new Error(`line ${line}: sample ${name} has no TYPE`)
    family.samples.push({
      name,
      labels: parseLabels(labelText ?? '', line),
      value: parseValue(valueText, line),
    })
  })
  for (const family of families.values()) {
    if (family.type === 'histogram') checkHistogram(family)
  }
  return families
}

/** Buckets never decrease, and the +Inf bucket equals _count, per label set. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(key) ?? { buckets: [] }
    if (sample.name.endsWith('_bucket')) entry.buckets.push([parseValue(le ?? '', 0), sample.value])
    if (sample.name.endsWith('_count')) entry.count = sample.value
    series.set(key, entry)
  }
  for (const [key, { buckets, count }] of series) {
    buckets.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${family.name}${key}: buckets decrease`)
    }
    const inf = buckets.at(-1)
    if (inf === undefined || inf[0] !== Number.POSITIVE_INFINITY || inf[1] !== count) {
      throw new Error(`${family.name}${key}: +Inf bucket must equal _count`)
    }
  }
}

/** Sum of a family's samples named `sampleName` whose labels include `match`. */
export function sumOf(
  families: Map<string, Family>,
  family: string,
  sampleName: string = family,
  match: Record<string, string> = {},
): number {
  const samples = families.get(family)?.samples ?? []
  return samples
    .filter((s) => s.name === sampleName && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)
}
