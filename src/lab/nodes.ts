import { readdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { loadConfig } from '../config/load.ts'
import type { BwnodeConfig, LinkConfig } from '../config/schema.ts'
import { ConfigError } from '../errors/index.ts'
import { linkBetween, type NodeLink } from '../net/link.ts'
import { LAB_CONFIG_PATTERN } from './constants.ts'

/**
 * What a lab node is for. The role comes from the config's file name
 * (lab-consumer, lab-origin, lab-datacentre, anything else is a residential
 * peer), because the config schema has no room for lab-only fields.
 */
export type LabRole = 'consumer' | 'origin' | 'datacentre' | 'residential'

export interface LabNodeSpec {
  /** File name without .json, e.g. 'lab-home-10km'. */
  name: string
  file: string
  role: LabRole
  config: BwnodeConfig
}

export function roleOf(name: string): LabRole {
  if (name.includes('consumer')) return 'consumer'
  if (name.includes('origin')) return 'origin'
  if (name.includes('datacentre') || name.includes('datacenter')) return 'datacentre'
  return 'residential'
}

/** Consumer first (it is everyone's bootstrap peer), then the rest by name. */
function startOrder(a: LabNodeSpec, b: LabNodeSpec): number {
  return Number(b.role === 'consumer') - Number(a.role === 'consumer') || a.name.localeCompare(b.name)
}

/** Loads every lab-*.json in `dir`; exactly one must be the consumer. */
export async function loadLabNodes(dir: string): Promise<LabNodeSpec[]> {
  const files = (
    await readdir(dir).catch(() => {
      throw new ConfigError(`${dir}: cannot read the lab configs directory`)
    })
  ).filter((file) => LAB_CONFIG_PATTERN.test(file))
  const specs: LabNodeSpec[] = []
  for (const file of files) {
    const path = resolve(join(dir, file))
    const name = basename(file, '.json')
    specs.push({ name, file: path, role: roleOf(name), config: await loadConfig(path) })
  }
  const consumers = specs.filter((spec) => spec.role === 'consumer').length
  if (consumers !== 1)
    throw new ConfigError(`${dir}: a lab needs exactly one lab-consumer*.json, found ${consumers}`)
  if (specs.length < 2) throw new ConfigError(`${dir}: a lab needs at least one node besides the consumer`)
  return specs.sort(startOrder)
}

/** The config's link in the emulator's terms (0 Mbit/s in a config means no cap). */
function asNodeLink(link: LinkConfig): NodeLink {
  return {
    accessLatencyMs: link.accessLatencyMs,
    uplinkMbps: link.uplinkMbps === 0 ? null : link.uplinkMbps,
    downlinkMbps: link.downlinkMbps === 0 ? null : link.downlinkMbps,
    position: link.position,
    routeInflation: link.routeInflation,
  }
}

/** The emulated round trip between two lab nodes, from their configs (0 when either has no link). */
export function expectedRttMs(a: LinkConfig | undefined, b: LinkConfig | undefined): number {
  if (a === undefined || b === undefined) return 0
  const there = linkBetween(asNodeLink(a), asNodeLink(b))
  const back = linkBetween(asNodeLink(b), asNodeLink(a))
  return there.oneWayDelayMs + back.oneWayDelayMs
}

/** Straight-line distance between two lab nodes in km. */
export function distanceKm(a: LinkConfig | undefined, b: LinkConfig | undefined): number {
  if (a === undefined || b === undefined) return 0
  return Math.hypot(a.position.x - b.position.x, a.position.y - b.position.y)
}
