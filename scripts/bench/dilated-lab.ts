/**
 * The dilated one-dataset lab the placements and long-fat-link sections measure in: a template
 * holding one dataset of 1 MiB chunks, a consumer on the experiment's consumer link, providers on
 * links of the caller's holding a copy of it, all sharing one TimeDilation. The links run at real
 * time while the nodes connect, then at K for the measurement, and at 1 again before the nodes
 * stop, however the measurement ends.
 */
import { join } from 'node:path'
import type { LinkConfig } from '../../src/config/schema.ts'
import { buildTemplate, startNode, type TemplateDataset } from '../../src/experiment/nodes.ts'
import { consumerLink } from '../../src/experiment/scenarios.ts'
import { connectAndPing, stopAll } from '../../src/lab/swarm.ts'
import { TimeDilation } from '../../src/net/dilation.ts'
import type { Bwnode } from '../../src/node/bwnode.ts'

const MiB = 2 ** 20
/** Files of the samples recipe at scale 1. */
const SAMPLES_AT_SCALE_1 = 2048

export interface DilatedLabInit {
  /** Under the bench's work dir: the template's dir and the prefix of every node's data dir. */
  name: string
  totalMiB: number
  /** The dilation factor the measurement runs at. */
  K: number
  /** Each provider's name (its data dir) and link, in the order `run` gets them. */
  providers: Array<{ name: string; link: LinkConfig }>
  /** Pings with which the consumer connects to each provider (their median is discarded). */
  pings: number
  /** Also a dataset of this many image-sized sample files (the experiment's W1 recipe). */
  samples?: number
}

export interface DilatedLab {
  consumer: Bwnode
  providers: Bwnode[]
  dataset: TemplateDataset
  /** The samples dataset, when `samples` asked for one. */
  samples?: TemplateDataset
}

/** Starts the lab, connects the consumer to every provider, and runs `measure` dilated at K. */
export async function withDilatedLab<T>(
  workDir: string,
  init: DilatedLabInit,
  measure: (lab: DilatedLab) => Promise<T>,
): Promise<T> {
  const template = await buildTemplate(join(workDir, init.name), [
    { id: 'shards', recipe: 'shards', scale: init.totalMiB / 512, chunkSizeBytes: MiB },
    ...(init.samples === undefined
      ? []
      : [
          {
            id: 'samples',
            recipe: 'samples' as const,
            scale: init.samples / SAMPLES_AT_SCALE_1,
            chunkSizeBytes: MiB,
          },
        ]),
  ])
  const dataset = template.datasets.get('shards')
  if (dataset === undefined) throw new Error('template lost its dataset')
  const samples = template.datasets.get('samples')
  const dilation = new TimeDilation(1)
  const emulator = { dilation }
  const nodes: Bwnode[] = []
  try {
    const consumer = await startNode({
      dataDir: join(workDir, `${init.name}-consumer`),
      link: consumerLink(),
      emulator,
    })
    nodes.push(consumer)
    const providers: Bwnode[] = []
    for (const provider of init.providers) {
      const node = await startNode({
        dataDir: join(workDir, `${init.name}-${provider.name}`),
        link: provider.link,
        template,
        emulator,
      })
      nodes.push(node)
      providers.push(node)
    }
    for (const node of providers) await connectAndPing(consumer, node, init.pings)
    dilation.factor = init.K
    return await measure({ consumer, providers, dataset, ...(samples === undefined ? {} : { samples }) })
  } finally {
    dilation.factor = 1
    await stopAll(nodes)
  }
}
