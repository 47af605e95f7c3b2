/**
 * One report from a full run and runs of its cell groups alone: `experiment --full --without
 * load,churn` decides the statuses, `--only load` and `--only churn` measure the groups apart (each
 * with its own at-rest baselines), and combineResults() puts the groups' cells beside the core
 * matrix so that one report holds every section. A live run on the netns lab's kernel-shaped links
 * comes in as a cross-check of the emulator. Nothing is re-measured or re-labelled.
 */
import { CELL_GROUPS } from './scenarios.ts'
import { type Cell, parseResults, type Results } from './types.ts'

/** The group a cell belongs to by its tag ('load-bloated', 'churn-none', ...), if any. */
export function groupOf(cell: Cell): string | undefined {
  return CELL_GROUPS.find((g) => cell.tag === g || cell.tag?.startsWith(`${g}-`) === true)
}

export function combineResults(core: Results, groupRuns: readonly Results[]): Results {
  if (core.config.mode !== 'full')
    throw new Error(`the core run must be a full run, got mode '${core.config.mode}'`)
  if (!core.calibration.passed) throw new Error('the core run failed its calibration: nothing to combine')
  const held = new Set(core.cells.map(groupOf).filter((g) => g !== undefined))
  const ids = new Set(core.cells.map((c) => c.id))
  const cells: Cell[] = [...core.cells]
  const added: string[] = []
  const crossChecks: NonNullable<Results['crossChecks']> = [...(core.crossChecks ?? [])]
  for (const run of groupRuns) {
    if (run.config.mode === 'live') {
      if (run.live === undefined)
        throw new Error(`the live run started ${run.startedAt} has no providers recorded`)
      if (crossChecks.some((c) => c.startedAt === run.startedAt))
        throw new Error(`the live run started ${run.startedAt} is in more than one of the runs`)
      const single = run.cells.filter(
        (c) => c.k === 1 && c.placement === 'P2-residential-peers' && c.runs.length > 0,
      )
      crossChecks.push({ startedAt: run.startedAt, live: run.live, cells: single })
      added.push(`a kernel cross-check from the live run started ${run.startedAt}`)
      continue
    }
    if (run.config.mode !== 'full')
      throw new Error(
        `a run to combine must be a full run of groups or a live run, got mode '${run.config.mode}'`,
      )
    if (!run.calibration.passed)
      throw new Error(`the group run started ${run.startedAt} failed its calibration`)
    const groupCells = run.cells.filter((c) => groupOf(c) !== undefined)
    const groups = [...new Set(groupCells.map(groupOf))] as string[]
    if (groups.length === 0)
      throw new Error(
        `the run started ${run.startedAt} holds no cells of a group (${CELL_GROUPS.join(', ')})`,
      )
    for (const g of groups) {
      if (held.has(g)) throw new Error(`group '${g}' is in more than one of the runs`)
      held.add(g)
    }
    for (const c of groupCells) {
      if (ids.has(c.id)) throw new Error(`cell ${c.id} is in more than one of the runs`)
      ids.add(c.id)
      cells.push(c)
    }
    added.push(`${groups.join(', ')} from the run started ${run.startedAt}`)
  }
  return parseResults({
    ...core,
    config: {
      ...core.config,
      knobs: {
        ...core.config.knobs,
        groups: [...held].join(',') || 'none',
        ...(added.length > 0 ? { groupsFrom: added.join('; ') } : {}),
      },
    },
    cells,
    ...(crossChecks.length > 0 ? { crossChecks } : {}),
  })
}
