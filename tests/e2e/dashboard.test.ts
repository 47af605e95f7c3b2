import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { DashboardSnapshot, DatasetInfo } from '../../src/contract/api.ts'
import { getJson, waitFor } from '../helpers/daemon.ts'
import {
  ARTIFACTS,
  assertChromium,
  callApi,
  fetchDataset,
  type LabNode,
  launchChromium,
  pixelsOf,
  startLabNode,
  writeConfig,
} from '../helpers/dashboard-lab.ts'

/**
 * Three daemons in their own processes: A seeds a dataset, B and C fetch it
 * (C from A and B), so A earns credits. A's dashboard, opened in headless
 * Chromium, must show its peers, the dataset with bytes served, and the
 * credits earned.
 */
describe('dashboard in a real browser', () => {
  const nodes: LabNode[] = []
  let browser: Browser | undefined
  afterAll(async () => {
    await browser?.close()
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
  })

  it('shows peers, the served dataset and earned credits from a live lab', async () => {
    assertChromium()
    // A price high enough that a few MB move visible credits; fast pings for RTTs.
    const config = await writeConfig({
      offer: { uplinkMbps: 0, pricePerGiB: 500 },
      latency: { pingIntervalMs: 500 },
    })
    const a = await startLabNode(['--config', config])
    nodes.push(a)
    const bootstrap = ['--config', config, '--bootstrap', `${a.listen[0]}`]
    const [b, c] = await Promise.all([startLabNode(bootstrap), startLabNode(bootstrap)])
    nodes.push(b!, c!)

    const dataset = await callApi<DatasetInfo>(a, 'POST', '/api/seeds', { name: 'samples', scale: 0.05 })
    await fetchDataset(b!, dataset.cid)
    await fetchDataset(c!, dataset.cid)
    const snapshot = await waitFor(
      async () => {
        const s = await getJson<DashboardSnapshot>(`${a.apiUrl}/api/dashboard`)
        const served = s.datasets.find((d) => d.cid === dataset.cid)?.servedBytes ?? 0
        const measured = s.peers.filter((p) => p.rttMs !== null).length
        return s.credits.earned > 0 && served > 0 && measured >= 2 ? s : undefined
      },
      { what: 'A to have earned credits, served the dataset and measured RTTs' },
    )
    expect(snapshot.credits.balance).toBeGreaterThan(snapshot.credits.grant)

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light' })
    const requests: string[] = []
    page.on('request', (request) => requests.push(request.url()))
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${a.apiUrl}/`)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })

    // Peers: both fetchers listed (short ids), with measured RTTs.
    const peersText = (await page.locator('#peers').textContent()) ?? ''
    for (const fetcher of [b!, c!]) expect(peersText).toContain(fetcher.peerId.slice(0, 8))
    expect(await page.locator('#peers tbody tr').count()).toBeGreaterThanOrEqual(2)
    // Each with a measured RTT p50 (connections may come and go; the measurements stay).
    for (const fetcher of [b!, c!]) {
      const row = page.locator('#peers tbody tr', { hasText: fetcher.peerId.slice(-6) })
      expect(await row.locator('td').nth(1).textContent()).toMatch(/^\d+(\.\d+)? ms$/)
    }
    expect(await page.locator('#map svg circle.peer').count()).toBeGreaterThanOrEqual(2)

    // The dataset, with a non-zero amount served.
    const datasetRow = page.locator('#datasets tbody tr', { hasText: 'samples' })
    await expect.poll(() => datasetRow.count()).toBe(1)
    const servedCell = (await datasetRow.locator('td').nth(4).textContent()) ?? ''
    // SI units, the base the CLI and reports print in (kB, not the ambiguous KB)
    expect(servedCell).toMatch(/^[1-9][\d.]* (kB|MB|GB)$/)

    // Credits: "+X earned" with X > 0, and a balance chart with a line.
    const earnedText = (await page.locator('#tile-balance-sub .up').textContent()) ?? ''
    const earned = Number(earnedText.replace(/[^\d.]/g, ''))
    expect(earned).toBeGreaterThan(0)
    await expect
      .poll(() => pixelsOf(page, '#credits-chart', '--accent'), { timeout: 20_000 })
      .toBeGreaterThan(20)
    expect(await page.locator('#live').getAttribute('data-state')).toBe('live')

    // Everything the page loaded came from the node itself.
    expect(requests.length).toBeGreaterThan(0)
    for (const url of requests) expect(url.startsWith(a.apiUrl)).toBe(true)
    expect(pageErrors).toEqual([])

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard.png'), fullPage: true })
    await page.emulateMedia({ colorScheme: 'dark' })
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard-dark.png'), fullPage: true })

    // B's dashboard shows the other side: credits spent, a finished transfer.
    const other = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
    await other.goto(`${b!.apiUrl}/`)
    await other.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
    expect(await other.locator('#transfers .badge', { hasText: 'done' }).count()).toBe(1)
    const spentText = (await other.locator('#tile-balance-sub .down').textContent()) ?? ''
    expect(Number(spentText.replace(/[^\d.]/g, ''))).toBeGreaterThan(0)
  })
})
