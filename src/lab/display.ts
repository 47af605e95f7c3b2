import { type LabRow, renderLabLine, renderLabTable } from './table.ts'

export interface LabOutput {
  write(text: string): unknown
  isTTY?: boolean
}

/**
 * Where the lab talks to its user. On a terminal the node table is redrawn in
 * place under the log lines; elsewhere (CI logs, pipes) each refresh is one
 * plain line and the full table is printed only when asked.
 */
export class LabDisplay {
  private readonly out: LabOutput
  private readonly tty: boolean
  private readonly startedAt: number
  private drawnLines = 0
  private readonly now: () => number

  constructor(out: LabOutput, init: { tty?: boolean; now?: () => number } = {}) {
    this.out = out
    this.tty = init.tty ?? out.isTTY === true
    this.now = init.now ?? Date.now
    this.startedAt = this.now()
  }

  get isTerminal(): boolean {
    return this.tty
  }

  get elapsedSeconds(): number {
    return (this.now() - this.startedAt) / 1000
  }

  /** A log line; on a terminal it goes above the live table. */
  log(line: string): void {
    this.clearTable()
    this.out.write(`${line}\n`)
  }

  /** A refresh: redraw the table on a terminal, one summary line elsewhere. */
  update(rows: LabRow[]): void {
    if (!this.tty) {
      this.out.write(`${renderLabLine(this.elapsedSeconds, rows)}\n`)
      return
    }
    this.clearTable()
    const lines = renderLabTable(rows)
    this.out.write(`${lines.join('\n')}\n`)
    this.drawnLines = lines.length
  }

  /** Prints the table so it stays (the next log line will not erase it). */
  printTable(rows: LabRow[]): void {
    this.clearTable()
    this.out.write(`${renderLabTable(rows).join('\n')}\n`)
  }

  private clearTable(): void {
    if (!this.tty || this.drawnLines === 0) return
    // Cursor up to the table's first line, then erase to the end of the screen.
    this.out.write(`\x1b[${this.drawnLines}F\x1b[J`)
    this.drawnLines = 0
  }
}
