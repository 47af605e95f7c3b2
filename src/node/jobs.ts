import { ERR } from '../errors/codes.ts'
import { BwnodeError } from '../errors/index.ts'

/** What a registry needs of a job's record: an id and whether it still runs. */
export interface JobRecord {
  id: string
  state: string
}

/**
 * The jobs the API reports (fetches as transfers, background adds): every running one, and the
 * newest `maxFinished` finished ones, so a node that runs for weeks keeps a bounded list.
 */
export class JobRegistry<Info extends JobRecord> {
  private readonly jobs = new Map<string, { info: Info; controller: AbortController }>()
  private next = 1
  private readonly kind: string
  private readonly maxFinished: number

  /** `kind` names a job in errors ("no transfer 7"). */
  constructor(kind: string, maxFinished: number) {
    this.kind = kind
    this.maxFinished = maxFinished
  }

  nextId(): string {
    return String(this.next++)
  }

  add(info: Info, controller = new AbortController()): void {
    this.jobs.set(info.id, { info, controller })
  }

  get(id: string): Info {
    return this.entry(id).info
  }

  /** Aborts a job's signal; the job itself records how it ended. */
  abort(id: string, reason: unknown): Info {
    const entry = this.entry(id)
    entry.controller.abort(reason)
    return entry.info
  }

  abortAll(reason: unknown): void {
    for (const { controller } of this.jobs.values()) controller.abort(reason)
  }

  /** Newest first. */
  list(): Info[] {
    return [...this.jobs.values()].map((job) => job.info).reverse()
  }

  running(): Info[] {
    return [...this.jobs.values()].map((job) => job.info).filter((info) => info.state === 'running')
  }

  /** Forgets the oldest finished jobs beyond `maxFinished`; running ones are always kept. */
  prune(): void {
    let finished = 0
    for (const { info } of this.jobs.values()) if (info.state !== 'running') finished++
    // Map iteration is insertion order: the oldest jobs come first.
    for (const [id, { info }] of this.jobs) {
      if (finished <= this.maxFinished) break
      if (info.state === 'running') continue
      this.jobs.delete(id)
      finished--
    }
  }

  private entry(id: string): { info: Info; controller: AbortController } {
    const entry = this.jobs.get(id)
    if (entry === undefined) throw new BwnodeError(ERR.NOT_FOUND, `no ${this.kind} ${id}`)
    return entry
  }
}
