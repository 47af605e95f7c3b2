import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import type { TransferInfo } from '../../src/contract/api.ts'
import {
  api,
  type DaemonProcess,
  getJson,
  readApiFile,
  startDaemonProcess,
  tempDir,
  waitFor,
} from './daemon.ts'

/**
 * A small lab of daemon processes for the operator tests: one seeds, the
 * others bootstrap from it and fetch, so bytes and credits really move.
 */

/** Where the browser tests leave their screenshots. */
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts')

const CHROMIUM = process.env.BWNODE_CHROMIUM ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
]

/** CI installs Debian's chromium; without it a browser test must fail, not skip. */
export function assertChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set BWNODE_CHROMIUM`,
    )
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
}

export interface LabNode extends DaemonProcess {
  token: string
}

export async function writeConfig(config: object): Promise<string> {
  const file = join(await tempDir('bwnode-config-'), 'config.json')
  await writeFile(file, JSON.stringify(config))
  return file
}

export async function startLabNode(args: string[]): Promise<LabNode> {
  const daemon = await startDaemonProcess(['--listen', '/ip4/127.0.0.1/tcp/0', ...args], await tempDir())
  return Object.assign(daemon, { token: (await readApiFile(daemon.dataDir)).token })
}

export function callApi<T>(node: LabNode, method: string, path: string, body?: unknown): Promise<T> {
  return api<T>({ url: node.apiUrl, token: node.token }, method, path, body)
}

/**
 * Starts a fetch on `node` and waits until it is done; throws on failure. A failed fetch is started
 * once more (it resumes from the chunks it stored), as a user would: three daemons on a loaded
 * machine can lose a connection mid-fetch, and a fetch does not yet reopen a provider's lost session
 * by itself. What this lab is for is the dashboard, not that.
 */
export async function fetchDataset(node: LabNode, cid: string, timeoutMs = 40_000): Promise<TransferInfo> {
  let failure: Error | undefined
  for (let attempt = 0; attempt < 2; attempt++) {
    const started = await callApi<TransferInfo>(node, 'POST', '/api/fetch', { cid })
    const outcome = await waitFor(
      async () => {
        const transfer = await getJson<TransferInfo>(`${node.apiUrl}/api/transfers/${started.id}`)
        if (transfer.state === 'failed' || transfer.state === 'cancelled') {
          return new Error(`fetch ${transfer.state}: ${transfer.error?.message}`)
        }
        return transfer.state === 'done' ? transfer : undefined
      },
      { timeoutMs, what: `fetch of ${cid} on ${node.peerId}` },
    )
    if (!(outcome instanceof Error)) return outcome
    failure = outcome
  }
  throw failure
}

/**
 * How many pixels of a chart's canvas (uPlot draws on one) are close to one of the page's colours
 * (a CSS variable such as --accent): a drawn series shows up as some.
 */
export function pixelsOf(page: Page, chart: string, cssVariable: string): Promise<number> {
  return page.evaluate(
    ([selector, name]) => {
      const canvas = document.querySelector(`${selector} canvas`)
      if (!(canvas instanceof HTMLCanvasElement)) return 0
      const hex = getComputedStyle(document.documentElement).getPropertyValue(name).trim()
      const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16))
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height)
      let near = 0
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! < 128) continue
        const distance =
          Math.abs(data[i]! - want[0]!) +
          Math.abs(data[i + 1]! - want[1]!) +
          Math.abs(data[i + 2]! - want[2]!)
        if (distance < 60) near++
      }
      return near
    },
    [chart, cssVariable] as const,
  )
}
