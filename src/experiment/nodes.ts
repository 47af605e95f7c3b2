/**
 * In-process bwnode nodes for the experiment: each a real Bwnode (own data dir, libp2p on
 * 127.0.0.1, chunk server) with its emulated link. Datasets are imported once into a template
 * store and copied into each provider's data dir before it starts, so sixteen peers cost sixteen
 * directory copies instead of sixteen imports. The template holds no identity, so every copy gets
 * its own peer id.
 */
import { copyFile, cp, link, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { LinkConfig } from '../config/schema.ts'
import { openDatabase } from '../db/database.ts'
import { startNode as startInProcess } from '../lab/swarm.ts'
import { createLinkEmulator, type LinkEmulatorInit } from '../net/emulator.ts'
import type { Bwnode } from '../node/bwnode.ts'
import { emulatedLink } from '../node/link-emulation.ts'
import { parseDatasetCid } from '../store/cid.ts'
import { ContentStore } from '../store/content-store.ts'
import type { Manifest } from '../store/manifest.ts'
import { generateSeed } from '../store/seed.ts'
import type { DatasetPlan } from './scenarios.ts'

/** Latency pings would add traffic to the links under test; the runner pings when it needs to. */
const EXPERIMENT_PING_INTERVAL_MS = 3_600_000
/** Chunk server timeouts in the experiment, ms: the defaults (10-30 s) times the highest dilation. */
const EXPERIMENT_SERVER_TIMEOUT_MS = 16 * 60_000
/** Enough serving slots that the offer never limits a cell; the emulated link is the cap. */
const EXPERIMENT_MAX_CONCURRENT = 256

export interface TemplateDataset {
  plan: DatasetPlan
  cid: string
  manifest: Manifest
  bytes: number
}

export interface Template {
  dir: string
  datasets: Map<string, TemplateDataset>
}

/** Generates the seed files and imports each dataset plan into a store at `<workDir>/template`. */
export async function buildTemplate(workDir: string, plans: DatasetPlan[]): Promise<Template> {
  const dir = join(workDir, 'template')
  const seedsDir = join(workDir, 'seeds')
  await mkdir(dir, { recursive: true })
  const db = await openDatabase(dir)
  const datasets = new Map<string, TemplateDataset>()
  try {
    const store = new ContentStore({ dataDir: dir, db })
    await store.start()
    const generated = new Map<string, string>()
    for (const plan of plans) {
      const key = `${plan.recipe}@${plan.scale}`
      let path = generated.get(key)
      if (path === undefined) {
        path = await generateSeed(plan.recipe, join(seedsDir, String(generated.size)), { scale: plan.scale })
        generated.set(key, path)
      }
      const info = await store.addPath(path, { name: plan.id, chunkSize: plan.chunkSizeBytes })
      const manifest = await store.getManifest(info.cid)
      if (manifest === undefined) throw new Error(`template lost the manifest of ${plan.id}`)
      datasets.set(plan.id, { plan, cid: info.cid, manifest, bytes: info.bytes })
    }
  } finally {
    await db.close()
  }
  return { dir, datasets }
}

/**
 * Copies a template store into a node's data dir. Chunk files are immutable and replaced only by
 * rename, so they are hard-linked (sixteen peers of a 512 MiB dataset cost no disk and no copy
 * time); the database is mutable and copied.
 */
export async function copyTemplate(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true })
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.name === 'chunks' && entry.isDirectory()) await linkTree(source, target)
    else if (entry.isDirectory()) await cp(source, target, { recursive: true })
    else await copyFile(source, target)
  }
}

async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true })
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.isDirectory()) await linkTree(source, target)
    else await link(source, target)
  }
}

/** A standalone content store over a copy of the template: the P0 "local disk". */
export async function openLocalStore(
  template: Template,
  dataDir: string,
): Promise<{ store: ContentStore; close(): Promise<void> }> {
  await cp(template.dir, dataDir, { recursive: true })
  const db = await openDatabase(dataDir)
  const store = new ContentStore({ dataDir, db })
  await store.start()
  return { store, close: () => db.close() }
}

/** An empty standalone store, where local staging (W4 on P0) writes its copy. */
export async function openEmptyStore(
  dataDir: string,
): Promise<{ store: ContentStore; close(): Promise<void> }> {
  await mkdir(dataDir, { recursive: true })
  const db = await openDatabase(dataDir)
  const store = new ContentStore({ dataDir, db })
  await store.start()
  return { store, close: () => db.close() }
}

export interface StartNodeOptions {
  dataDir: string
  /** undefined = no link emulator at all (calibration's baseline). */
  link: LinkConfig | undefined
  /** Copy the template's datasets in before starting. */
  template?: Template
  /** Emulator options (dilation, fidelity probe, shaping of transparent paths); needs `link`. */
  emulator?: LinkEmulatorInit
}

/** The experiment's preset of `lab/swarm.ts`: what a node of a cell needs on top of the defaults. */
export async function startNode(options: StartNodeOptions): Promise<Bwnode> {
  if (options.template !== undefined) await copyTemplate(options.template.dir, options.dataDir)
  else await mkdir(options.dataDir, { recursive: true })
  return startInProcess({
    dataDir: options.dataDir,
    config: {
      offer: { uplinkMbps: 0, maxConcurrent: EXPERIMENT_MAX_CONCURRENT, pricePerGiB: 0 },
      latency: { pingIntervalMs: EXPERIMENT_PING_INTERVAL_MS },
      ...(options.link === undefined ? {} : { link: options.link }),
    },
    libp2p:
      options.link === undefined || options.emulator === undefined
        ? {}
        : {
            connectionProtector: createLinkEmulator(emulatedLink(options.link), options.emulator),
            // dilated links delay pings queued behind bulk data K times longer: late, not lost
            abortConnectionOnPingFailure: false,
          },
    // Dilated cells run up to MAX_DILATION times slower than real time: the chunk server's timers
    // must not mistake a slow emulated link for a silent peer.
    chunkServer: {
      idleTimeoutMs: EXPERIMENT_SERVER_TIMEOUT_MS,
      messageTimeoutMs: EXPERIMENT_SERVER_TIMEOUT_MS,
      drainTimeoutMs: EXPERIMENT_SERVER_TIMEOUT_MS,
    },
    source: 'experiment',
  })
}

export function datasetCid(dataset: TemplateDataset) {
  return parseDatasetCid(dataset.cid)
}
