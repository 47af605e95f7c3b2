/**
 * Chart shapes the report's sections share, as vega-lite specs. Kept apart from charts.ts, which
 * imports every section's chart: a section importing a shape from there would close a cycle.
 */
import type { TopLevelSpec } from 'vega-lite'

interface Axis {
  field: string
  title: string
}

export interface GroupedBarsInit {
  title: string
  subtitle: string
  values: Array<Record<string, string | number>>
  /** One row of bars per value of this field. */
  category: Axis
  /** One bar per value of this field within a row, told apart by colour. */
  group: Axis
  /** The bar's length. */
  value: Axis & { domain?: [number, number] }
  width: number
}

/** Horizontal bars, one row per category, one coloured bar per group within it. */
export function groupedBars(init: GroupedBarsInit): TopLevelSpec {
  const { category, group, value } = init
  return {
    title: { text: init.title, subtitle: init.subtitle },
    data: { values: init.values },
    width: init.width,
    mark: 'bar',
    encoding: {
      y: { field: category.field, type: 'nominal', title: category.title },
      yOffset: { field: group.field },
      x: {
        field: value.field,
        type: 'quantitative',
        title: value.title,
        ...(value.domain === undefined ? {} : { scale: { domain: value.domain } }),
      },
      color: { field: group.field, type: 'nominal', title: group.title },
    },
  } as TopLevelSpec
}
