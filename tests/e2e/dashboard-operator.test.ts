import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import type { DatasetInfo, TransferInfo } from '../../src/contract/api.ts'
import { packageVersion } from '../../src/util/version.ts'
import { tempDir, waitFor } from '../helpers/daemon.ts'
import {
  ARTIFACTS,
  assertChromium,
  callApi,
  type LabNode,
  launchChromium,
  pixelsOf,
  startLabNode,
  writeConfig,
} from '../helpers/dashboard-lab.ts'

/** A dataset CID no node holds: its fetch fails. */
const UNKNOWN_CID = 'bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea'

/** The transfers table's row for the newest transfer of `cid` (the table lists newest first). */
const transferRow = (page: Page, cid: string) =>
  page.locator('#transfers tbody tr', { has: page.locator(`code[title="${cid}"]`) }).first()

/**
 * An operator runs a node from the page alone. Three daemons: A holds a small dataset, C holds a
 * larger one behind a 2 Mbit/s uplink, B is the operator's node. On B's dashboard, in real
 * Chromium: paste the token, fetch A's dataset and see it complete, fetch C's and cancel it, see
 * a failed fetch's error, add a directory and remove it, open A's peer view and copy its id; the
 * charts have hover values and time ticks; nothing overflows at 420 px; /favicon.ico is there;
 * no console errors. Screenshots at 1400 and 420 px go to test-artifacts/.
 */
/** The page's updates come on its 1-2 s poll; a loaded machine (the suite beside it) takes longer. */
const POLL = { timeout: 20_000 }

describe('the dashboard as an operator tool, in a real browser', () => {
  const nodes: LabNode[] = []
  let browser: Browser | undefined
  afterAll(async () => {
    await browser?.close()
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
  })

  it('adds, fetches, cancels, removes and shows a peer, from the page', async () => {
    assertChromium()
    const fast = await writeConfig({
      offer: { uplinkMbps: 0, pricePerGiB: 100 },
      latency: { pingIntervalMs: 500 },
    })
    const slow = await writeConfig({
      offer: { uplinkMbps: 2, pricePerGiB: 100 },
      latency: { pingIntervalMs: 500 },
    })
    const a = await startLabNode(['--config', fast])
    nodes.push(a)
    const [b, c] = await Promise.all([
      startLabNode(['--config', fast, '--bootstrap', `${a.listen[0]}`]),
      startLabNode(['--config', slow, '--bootstrap', `${a.listen[0]}`]),
    ])
    nodes.push(b!, c!)
    const small = await callApi<DatasetInfo>(a, 'POST', '/api/seeds', { name: 'samples', scale: 0.05 })
    // A holds it and has announced it on the DHT: what "a peer holds a dataset" means to B
    await waitFor(
      async () =>
        (await callApi<Array<DatasetInfo & { provided: boolean }>>(a, 'GET', '/api/datasets')).some(
          (d) => d.cid === small.cid && d.provided,
        )
          ? true
          : undefined,
      { what: 'A announcing its dataset', timeoutMs: 60_000 },
    )
    // 8 MB of random bytes at 2 Mbit/s: half a minute, time enough to cancel.
    const bigDir = await tempDir('bwnode-big-')
    await writeFile(join(bigDir, 'big.bin'), randomBytes(8_000_000))
    const big = await callApi<DatasetInfo>(c!, 'POST', '/api/datasets', { path: bigDir, name: 'big' })

    browser = await launchChromium()
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1000 },
      colorScheme: 'light',
    })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: b!.apiUrl })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (err) => problems.push(`page: ${err.message}`))
    const requests: string[] = []
    page.on('request', (request) => requests.push(request.url()))
    await page.goto(`${b!.apiUrl}/`)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })

    // Who and where: version, API, listen address.
    expect(await page.locator('#node-version').textContent()).toBe(`v${packageVersion()}`)
    expect(await page.locator('#node-api').textContent()).toBe(b!.apiUrl)
    expect(await page.locator('#node-listen').textContent()).toContain('/tcp/')
    expect(await page.locator('#node-id').textContent()).toBe(b!.peerId)
    await expect.poll(() => page.locator('#lending-state').textContent(), POLL).toBe('open')

    // Locked until the token is pasted.
    expect(await page.locator('#fetch-form button[type="submit"]').isDisabled()).toBe(true)
    expect(await page.locator('#token-held').isVisible()).toBe(false)
    await page.fill('#token-input', 'not-the-token')
    await page.click('#token-form button[type="submit"]')
    await expect.poll(() => page.locator('#action-msg').textContent(), POLL).toContain('ERR_UNAUTHORIZED')
    await page.waitForTimeout(200)
    problems.splice(0) // the refused token's 401 is the one error this test asks for
    await page.fill('#token-input', b!.token)
    await page.click('#token-form button[type="submit"]')
    await expect.poll(() => page.locator('#action-msg').textContent(), POLL).toContain('Token accepted')
    expect(await page.locator('#fetch-form button[type="submit"]').isDisabled()).toBe(false)
    expect(await page.locator('#token-form').isVisible()).toBe(false)
    expect(await page.evaluate(() => sessionStorage.getItem('bwnode.apiToken'))).toBe(b!.token)

    // Fetch A's dataset from the page and see it complete (once more if a loaded machine lost a
    // connection mid-fetch: it resumes from what it stored).
    for (let attempt = 0; attempt < 2; attempt++) {
      await page.fill('#fetch-cid', small.cid)
      await page.click('#fetch-form button[type="submit"]')
      await expect.poll(() => page.locator('#action-msg').textContent(), POLL).toContain('started')
      const state = await waitForState(page, small.cid, ['done', 'failed'], 60_000)
      if (state === 'done') break
      const failed = (await callApi<TransferInfo[]>(b!, 'GET', '/api/transfers')).filter(
        (t) => t.cid === small.cid,
      )
      expect(
        attempt,
        `the fetch failed twice: ${failed.map((t) => `${t.error?.code}: ${t.error?.message}`).join('; ')}`,
      ).toBe(0)
    }
    const datasetRow = page.locator('#datasets tbody tr', { hasText: 'samples' })
    await expect.poll(() => datasetRow.locator('.badge', { hasText: 'complete' }).count(), POLL).toBe(1)

    // Fetch C's big dataset, then cancel it from its row: the row says why it stopped.
    await page.fill('#fetch-cid', big.cid)
    await page.click('#fetch-form button[type="submit"]')
    await waitForState(page, big.cid, ['running'], 20_000)
    await transferRow(page, big.cid).locator('button[data-action="cancel"]').click()
    await waitForState(page, big.cid, ['cancelled'], 20_000)
    expect(await transferRow(page, big.cid).locator('.error-text').textContent()).toContain('ERR_CANCELLED')

    // A fetch nobody can serve fails, and its row shows the error.
    await page.fill('#fetch-cid', UNKNOWN_CID)
    await page.click('#fetch-form button[type="submit"]')
    await waitForState(page, UNKNOWN_CID, ['failed'], 90_000)
    expect(await transferRow(page, UNKNOWN_CID).locator('.error-text').textContent()).toMatch(
      /^ERR_[A-Z_]+: ./,
    )

    // Add a directory of this machine, then remove it (two clicks).
    const addDir = await tempDir('bwnode-add-')
    await writeFile(join(addDir, 'notes.txt'), 'operator notes\n'.repeat(200))
    await page.fill('#add-path', addDir)
    await page.fill('#add-name', 'operator-notes')
    await page.click('#add-form button[type="submit"]')
    await expect.poll(() => page.locator('#action-msg').textContent(), POLL).toContain('Added operator-notes')
    const added = page.locator('#datasets tbody tr', { hasText: 'operator-notes' })
    await expect.poll(() => added.count(), POLL).toBe(1)
    await added.locator('button[data-action="remove"]').click()
    await expect
      .poll(() => added.locator('button[data-action="remove"]').textContent())
      .toBe('Confirm remove')
    await added.locator('button[data-action="remove"]').click()
    await expect.poll(() => page.locator('#action-msg').textContent(), POLL).toContain('Removed')
    await expect.poll(() => added.count(), POLL).toBe(0)

    // Charts (uPlot, served by the node): bandwidth in and out over time, clock ticks, values on hover.
    await expect.poll(() => page.locator('#bw-chart .uplot canvas').count(), { timeout: 30_000 }).toBe(1)
    await expect.poll(() => pixelsOf(page, '#bw-chart', '--accent'), POLL).toBeGreaterThan(20)
    expect(await page.locator('#bw-chart .uplot').getAttribute('aria-label')).toMatch(
      /^in and out, .*\d\d:\d\d/,
    )
    // hover near the newest point (hover() scrolls the chart into view first)
    const plotArea = page.locator('#bw-chart .u-over')
    const box = (await plotArea.boundingBox())!
    await plotArea.hover({ position: { x: box.width - 2, y: box.height / 2 } })
    await expect
      .poll(() => page.locator('#bw-readout').textContent(), POLL)
      .toMatch(/\d\d:\d\d:\d\d · in .+B\/s · out .+B\/s/)
    expect(await page.locator('#credits-chart .uplot canvas').count()).toBe(1)
    expect(await pixelsOf(page, '#credits-chart', '--accent')).toBeGreaterThan(20)
    expect(await page.locator('#credits-chart .uplot').getAttribute('aria-label')).toMatch(/\d\d:\d\d/)
    expect(await page.locator('#tile-disk').textContent()).toMatch(/^[1-9][\d.]* (kB|MB|GB)$/)

    // The peer view of A: full id (copyable), a direct connection, RTT history, bytes fetched.
    const peerRow = page.locator('#peers tbody tr', { hasText: a.peerId.slice(-6) })
    await peerRow.locator('button[data-action="peer"]').click()
    const dialog = page.locator('#peer-dialog')
    await expect.poll(() => dialog.isVisible(), POLL).toBe(true)
    await expect.poll(() => page.locator('#peer-detail-id').textContent(), POLL).toBe(a.peerId)
    expect(await dialog.locator('.badge', { hasText: 'direct' }).count()).toBeGreaterThanOrEqual(1)
    await expect
      .poll(() => pixelsOf(page, '#peer-rtt-chart', '--accent'), { timeout: 20_000 })
      .toBeGreaterThan(20)
    const detailText = (await dialog.textContent()) ?? ''
    expect(detailText).toMatch(/Fetched from it[1-9][\d.]* (kB|MB)/)
    expect(detailText).toContain('Spent on it')
    await dialog.locator('.full-id button[data-action="copy"]').click()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(a.peerId)

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard-peer-1400.png') })
    await dialog.locator('button[data-action="close-peer"]').click()
    await expect.poll(() => dialog.isVisible(), POLL).toBe(false)
    await page.evaluate(() => window.scrollTo(0, 0)) // the sticky header belongs at the top
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard-1400.png'), fullPage: true })

    // 420 px wide: nothing sticks out sideways, the page or the peer view.
    await page.setViewportSize({ width: 420, height: 900 })
    await page.waitForTimeout(2000) // a poll redraws the charts at the new width
    const overflow = () =>
      page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        view: document.documentElement.clientWidth,
      }))
    const narrow = await overflow()
    expect(narrow.page, 'the page is wider than the screen').toBeLessThanOrEqual(narrow.view)
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard-420.png'), fullPage: true })
    await peerRow.locator('button[data-action="peer"]').click()
    await expect.poll(() => page.locator('#peer-detail-id').textContent(), POLL).toBe(a.peerId)
    const inDialog = await page.evaluate(() => {
      const d = document.getElementById('peer-dialog') as HTMLDialogElement
      return { scroll: d.scrollWidth, client: d.clientWidth, right: d.getBoundingClientRect().right }
    })
    expect(inDialog.scroll).toBeLessThanOrEqual(inDialog.client)
    expect(inDialog.right).toBeLessThanOrEqual(420)
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard-peer-420.png') })

    // The icon, and nothing loaded from anywhere but the node.
    const icon = await page.request.get(`${b!.apiUrl}/favicon.ico`)
    expect(icon.status()).toBe(200)
    expect(icon.headers()['content-type']).toBe('image/x-icon')
    for (const url of requests) expect(url.startsWith(b!.apiUrl)).toBe(true)
    expect(problems).toEqual([])
  }, 300_000)
})

/** Waits until the newest transfer of `cid` shows one of `states`; returns it. */
async function waitForState(page: Page, cid: string, states: string[], timeoutMs: number): Promise<string> {
  let state = ''
  await expect
    .poll(
      async () => {
        state =
          (await transferRow(page, cid)
            .getAttribute('data-state', { timeout: 500 })
            .catch(() => null)) ?? ''
        return states.includes(state)
      },
      { timeout: timeoutMs, interval: 250 },
    )
    .toBe(true)
  return state
}
