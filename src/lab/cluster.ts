import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabNodeSpec } from './nodes.ts'
import { type LabNodeProcess, spawnLabNode, stopChild } from './process.ts'

export interface LabClusterInit {
  /** Parent of the lab's temp dir (default: the OS temp dir). */
  tmpRoot?: string
  readyTimeoutMs?: number
}

/**
 * The lab's daemons and their data dirs. Owns every child it spawned, so one
 * `stop()` (or the process exiting for any reason) takes them all down: no
 * daemon outlives the lab unless the caller keeps the cluster running.
 */
export class LabCluster {
  readonly root: string
  readonly nodes: LabNodeProcess[] = []
  private readonly children = new Set<ChildProcess>()
  private readonly readyTimeoutMs: number | undefined
  private stopping: Promise<void> | undefined
  private keepDirs = false
  private readonly onExit = (): void => this.killNow()

  private constructor(root: string, init: LabClusterInit) {
    this.root = root
    this.readyTimeoutMs = init.readyTimeoutMs
    // Last resort for exits that skip stop() (uncaught errors, process.exit):
    // 'exit' handlers must be synchronous, so SIGKILL and a sync rm.
    process.once('exit', this.onExit)
  }

  static async create(init: LabClusterInit = {}): Promise<LabCluster> {
    const parent = init.tmpRoot ?? tmpdir()
    await mkdir(parent, { recursive: true })
    return new LabCluster(await mkdtemp(join(parent, 'bwnode-lab-')), init)
  }

  /**
   * Starts the consumer first, then every other node at once bootstrapping
   * from it (their order does not matter once one peer is known).
   */
  async startAll(specs: LabNodeSpec[], onReady: (node: LabNodeProcess) => void = () => {}): Promise<void> {
    const [first, ...rest] = specs
    if (first === undefined) return
    const bootstrapNode = await this.startOne(first, [])
    onReady(bootstrapNode)
    const bootstrap = bootstrapNode.listen.slice(0, 1)
    await Promise.all(
      rest.map(async (spec) => {
        const node = await this.startOne(spec, bootstrap)
        onReady(node)
      }),
    )
  }

  private async startOne(spec: LabNodeSpec, bootstrap: string[]): Promise<LabNodeProcess> {
    const dataDir = join(this.root, spec.name)
    await mkdir(dataDir, { recursive: true })
    const node = await spawnLabNode(
      spec,
      {
        dataDir,
        bootstrap,
        ...(this.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: this.readyTimeoutMs }),
      },
      (child) => {
        this.children.add(child)
        child.once('exit', () => this.children.delete(child))
      },
    )
    this.nodes.push(node)
    return node
  }

  node(role: LabNodeSpec['role']): LabNodeProcess | undefined {
    return this.nodes.find((node) => node.spec.role === role)
  }

  get pids(): number[] {
    return [...this.children].map((child) => child.pid ?? -1).filter((pid) => pid > 0)
  }

  /** Keep the data dirs when stopping (for inspection after --keep-running). */
  keepDataDirs(): void {
    this.keepDirs = true
  }

  /** Stops every daemon (SIGTERM, then SIGKILL after a grace period) and removes the temp dir. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.children].map((child) => stopChild(child)))
      if (!this.keepDirs) await rm(this.root, { recursive: true, force: true })
      process.removeListener('exit', this.onExit)
    })()
    return this.stopping
  }

  private killNow(): void {
    for (const child of this.children) child.kill('SIGKILL')
    if (!this.keepDirs) rmSync(this.root, { recursive: true, force: true })
  }
}
