// @ts-check
// The bwnode dashboard: polls GET /api/dashboard and redraws. With the API token pasted into
// the page (kept in this tab's sessionStorage, sent as `Authorization: Bearer`, as the CLI does)
// it adds, fetches, cancels and removes through the same API.
// Every value from the node (names, ids, error messages) goes into the page as text, never as
// HTML: dataset names and peer ids come from other peers.
// The replies' types are the API contract's (src/contract/api.ts); `tsc` checks this file.

/** @typedef {import('../../contract/api.ts').DashboardSnapshot} Snapshot */
/** @typedef {import('../../contract/api.ts').PeerDetail} PeerDetail */
/** @typedef {import('../../contract/api.ts').TransferInfo} TransferInfo */
/** @typedef {import('../../contract/api.ts').DatasetInfo} DatasetInfo */
/** @typedef {import('../../contract/api.ts').NodeStatus} NodeStatus */
/** @typedef {Snapshot['peers'][number]} SnapshotPeer */
/** @typedef {import('uplot')} Plot */

/** uPlot, loaded by the page before this script (served by the node, like the page). */
const UPlot = /** @type {{ uPlot: typeof import('uplot') }} */ (/** @type {unknown} */ (globalThis)).uPlot

const POLL_MS = 1500
const SVG_NS = 'http://www.w3.org/2000/svg'
const TOKEN_KEY = 'bwnode.apiToken'
/** A remove button asks once more; the second click must come within this, ms. */
const CONFIRM_MS = 4000

// ---------- formatting ----------

// formatBytes and formatRate are src/util/format.ts's, in the one base (SI: kB = 1000 B) the CLI,
// the lab and the reports print; tests/unit/format.test.ts checks that the copies agree.
const SI_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

/** @param {number} bytes */
function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–'
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1000 && unit < SI_UNITS.length - 1) {
    value /= 1000
    unit++
  }
  let shown = unit === 0 ? Math.round(value) : Number(value.toPrecision(3))
  if (Math.abs(shown) >= 1000 && unit < SI_UNITS.length - 1) {
    shown = Number((value / 1000).toPrecision(3))
    unit++
  }
  return `${shown} ${SI_UNITS[unit]}`
}

/** @param {number | null | undefined} bytesPerSec */
function formatRate(bytesPerSec) {
  return typeof bytesPerSec === 'number' && Number.isFinite(bytesPerSec)
    ? `${formatBytes(bytesPerSec)}/s`
    : '–'
}

/** @param {number | null | undefined} ms */
function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  return `${Math.round(ms)} ms`
}

/** @param {number} value */
function formatCredits(value) {
  if (!Number.isFinite(value)) return '–'
  const abs = Math.abs(value)
  const digits = abs >= 10 ? 2 : 4
  return value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** @param {number} mbps */
function formatMbps(mbps) {
  return mbps > 0 ? `${mbps} Mbit/s` : 'uncapped'
}

/** @param {number} seconds */
function formatDuration(seconds) {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`
}

/** @param {number | null | undefined} time @param {number} now */
function formatAgo(time, now) {
  if (time === null || time === undefined) return 'never'
  return `${formatDuration(Math.max(0, (now - time) / 1000))} ago`
}

/** Local clock time, 24 h; with seconds unless told otherwise. @param {number} time */
function formatClock(time, seconds = true) {
  return new Date(time).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
    hour12: false,
  })
}

/** A moment that may be days away: the clock today, else the date too. @param {number} time */
function formatWhen(time) {
  const date = new Date(time)
  const today = new Date()
  const sameDay = date.toDateString() === today.toDateString()
  return sameDay ? formatClock(time, false) : `${date.toLocaleDateString()} ${formatClock(time, false)}`
}

/** @param {string} id */
function shortId(id) {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
}

/** The end of a peer id: every Ed25519 libp2p id starts with the same "12D3KooW". @param {string} id */
function peerTag(id) {
  return `…${id.slice(-6)}`
}

/**
 * Moves points whose dot or label (to the right of the dot) would cover
 * another's, up or down in steps, so every peer stays visible and readable.
 * @param {Array<[number, number]>} points
 * @returns {Array<[number, number]>}
 */
function spread(points, labelWidth = 64, rowHeight = 15) {
  /** @type {Array<[number, number]>} */
  const placed = []
  /** @param {number} x @param {number} y */
  const clashes = (x, y) =>
    placed.some(([qx, qy]) => Math.abs(x - qx) < labelWidth && Math.abs(y - qy) < rowHeight)
  for (const [x, y] of points) {
    let py = y
    for (let step = 1; step <= 16 && clashes(x, py); step++) {
      py = y + rowHeight * Math.ceil(step / 2) * (step % 2 === 1 ? 1 : -1)
    }
    placed.push([x, py])
  }
  return placed
}

// ---------- DOM helpers ----------

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'class') node.className = String(value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}, text) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag))
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value))
  if (text !== undefined) node.textContent = text
  return node
}

/** @param {string} id @returns {HTMLElement} */
function byId(id) {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`#${id} missing from the page`)
  return node
}

/** @param {string} id @param {string} text */
function setText(id, text) {
  byId(id).textContent = text
}

/** @param {string} id @param {...(Node | string)} children */
function replace(id, ...children) {
  byId(id).replaceChildren(...children)
}

/** @param {string} title @param {string} detail */
function emptyState(title, detail) {
  return el('div', { class: 'empty' }, el('strong', {}, title), detail)
}

/**
 * A table in a box that scrolls sideways on a narrow screen (the page itself never does).
 * Headers: [label, numeric?, optional? (hidden on narrow screens)].
 * @param {Array<[string, boolean?, boolean?]>} headers
 * @param {HTMLElement[]} rows
 */
function table(headers, rows) {
  const head = el(
    'tr',
    {},
    headers.map(([label, numeric, optional]) =>
      el('th', { class: [numeric ? 'num' : '', optional ? 'opt' : ''].join(' ').trim() || undefined }, label),
    ),
  )
  return el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, head), el('tbody', {}, rows)))
}

/** @param {number} fraction */
function progressBar(fraction, kind = '') {
  const pct = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0)) * 100
  const fill = el('span')
  fill.style.width = `${pct.toFixed(1)}%`
  return el(
    'div',
    { class: `bar ${kind}`.trim(), role: 'progressbar', 'aria-valuenow': pct.toFixed(0) },
    fill,
  )
}

/** A button that copies `value` (a full peer id or CID) to the clipboard. @param {string} value */
function copyButton(value, what = 'peer id') {
  return el(
    'button',
    {
      type: 'button',
      class: 'copy',
      'data-action': 'copy',
      'data-copy': value,
      title: `Copy the full ${what}`,
    },
    'Copy',
  )
}

/**
 * A button that changes state through the API: disabled, saying why, until the token is pasted.
 * @param {string} label @param {string} action @param {Record<string, string>} data
 */
function actionButton(label, action, data, kind = '') {
  /** @type {Record<string, string | boolean>} */
  const attrs = { type: 'button', class: `act ${kind}`.trim(), 'data-action': action }
  for (const [key, value] of Object.entries(data)) attrs[`data-${key}`] = value
  if (token() === null) {
    attrs.disabled = true
    attrs.title = 'Paste the API token first'
  }
  return el('button', attrs, label)
}

// ---------- charts ----------

/**
 * @typedef {{ name: string, cls: string, values: number[] }} ChartSeries
 * @typedef {{
 *   times: number[],
 *   series: ChartSeries[],
 *   format: (value: number) => string,
 *   readout: string,
 *   step?: boolean,
 *   area?: boolean,
 *   dots?: boolean,
 *   zero?: boolean,
 *   minSpan?: number,
 *   height?: number,
 * }} ChartSpec
 */

/** The page's colours (CSS variables), for the charts, which draw on a canvas. @param {string} name */
function cssColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#2f6fed'
}

/** A series' stroke by its class: bytes in, bytes out, or the accent. @param {string} cls */
function seriesColour(cls) {
  return cssColour(cls === 'out' ? '--good' : '--accent')
}

/** @type {WeakMap<HTMLElement, { plot: Plot, shape: string }>} */
const plots = new WeakMap()

/**
 * A time chart (uPlot, served by the node like the page) at the width of its box: one line per
 * series, value ticks on the left, clock ticks below; hovering shows the time and every series'
 * value there in the readout beside the chart. A redraw of the same shape reuses the chart.
 * @param {HTMLElement} box @param {ChartSpec} spec
 */
function drawTimeChart(box, spec) {
  const width = Math.max(260, Math.round(box.clientWidth || 360))
  const height = spec.height ?? 180
  /** @type {import('uplot').AlignedData} */
  const data = [spec.times, ...spec.series.map((s) => s.values)]
  const shape = JSON.stringify([spec.readout, spec.series.map((s) => s.cls), height])
  const existing = plots.get(box)
  if (existing !== undefined && existing.shape === shape && box.contains(existing.plot.root)) {
    existing.plot.setData(data)
    if (existing.plot.width !== width) existing.plot.setSize({ width, height })
    return
  }
  existing?.plot.destroy()
  const span = (spec.times.at(-1) ?? 0) - (spec.times[0] ?? 0)
  const muted = cssColour('--muted')
  const grid = { stroke: cssColour('--line'), width: 1 }
  const axis = { stroke: muted, grid, ticks: grid, font: '10.5px system-ui, sans-serif' }
  /** @type {import('uplot').Options} */
  const options = {
    width,
    height,
    // timestamps are ms since the epoch, as the API sends them
    ms: 1,
    legend: { show: false },
    cursor: { y: false, points: { size: 6 } },
    scales: {
      y: {
        range: (_u, lo, hi) => {
          let [min, max] = [spec.zero ? 0 : lo, hi]
          const minSpan = spec.minSpan ?? 1
          if (max - min < minSpan) {
            const mid = spec.zero ? minSpan / 2 : (max + min) / 2
            min = spec.zero ? 0 : mid - minSpan / 2
            max = mid + minSpan / 2
          }
          return [min, max]
        },
      },
    },
    axes: [
      {
        ...axis,
        space: 70,
        values: (u, splits) => {
          const labels = splits.map((t) => formatClock(t, span < 10 * 60_000))
          // the clock labels drawn on the canvas, also for screen readers
          u.root.setAttribute(
            'aria-label',
            `${spec.series.map((x) => x.name).join(' and ')}, ${labels.join(', ')}`,
          )
          return labels
        },
      },
      { ...axis, size: 64, values: (_u, splits) => splits.map((v) => spec.format(v)) },
    ],
    series: [
      {},
      ...spec.series.map((s, index) => ({
        label: s.name,
        stroke: seriesColour(s.cls),
        width: 2,
        ...(spec.area && index === 0 ? { fill: cssColour('--accent-soft') } : {}),
        ...(spec.step ? { paths: UPlot.paths.stepped?.({ align: 1 }) } : {}),
        points: { show: spec.dots === true, size: 5, fill: seriesColour(s.cls) },
      })),
    ],
    hooks: {
      setCursor: [
        (u) => {
          const i = u.cursor.idx
          if (i === null || i === undefined) return
          const time = u.data[0][i]
          if (time === undefined) return
          const text = [
            formatClock(time),
            ...spec.series.map((s, k) => `${s.name} ${spec.format(Number(u.data[k + 1]?.[i] ?? 0))}`),
          ].join(' · ')
          setText(spec.readout, text)
        },
      ],
    },
  }
  const plot = new UPlot(options, data, box)
  box.replaceChildren(plot.root)
  plots.set(box, { plot, shape })
}

// ---------- the API token and actions ----------

/** @returns {string | null} */
function token() {
  return sessionStorage.getItem(TOKEN_KEY)
}

/**
 * A call that changes state, with the token. Resolves with the reply's JSON; rejects with the
 * API's error code and message.
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function call(method, path, body) {
  const held = token()
  if (held === null) throw new Error('paste the API token first')
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${held}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(path, {
    method,
    headers,
    cache: 'no-store',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  /** @type {any} */
  let reply = null
  try {
    reply = text === '' ? null : JSON.parse(text)
  } catch {
    reply = null
  }
  if (!response.ok) {
    if (response.status === 401) lock()
    const error = reply?.error
    throw new Error(error ? `${error.code}: ${error.message}` : `HTTP ${response.status}`)
  }
  return reply
}

/** @param {string} text */
function say(text, kind = 'ok') {
  const msg = byId('action-msg')
  msg.dataset.kind = kind
  msg.textContent = text
}

function lock() {
  sessionStorage.removeItem(TOKEN_KEY)
  renderToken()
}

function renderToken() {
  const held = token() !== null
  byId('token-form').hidden = held
  byId('token-held').hidden = !held
  const actions = /** @type {HTMLFieldSetElement} */ (byId('actions'))
  actions.disabled = !held
  document.querySelectorAll('button.act').forEach((button) => {
    if (!(button instanceof HTMLButtonElement)) return
    button.disabled = !held
    button.title = held ? '' : 'Paste the API token first'
  })
}

/**
 * Runs one action: the button waits, the outcome goes to the message line, the page refreshes.
 * @param {HTMLButtonElement | null} button @param {() => Promise<string>} action
 */
async function act(button, action) {
  if (button !== null) button.disabled = true
  try {
    say(await action())
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), 'error')
  } finally {
    // A table's action button needs the token; a form's is disabled by its fieldset, if at all.
    if (button !== null) button.disabled = button.classList.contains('act') && token() === null
    void refresh()
  }
}

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id))
}

/** The submit button of the form an event came from. @param {Event} event */
function submitter(event) {
  const form = /** @type {HTMLFormElement} */ (event.currentTarget)
  const button = form.querySelector('button[type="submit"]')
  return button instanceof HTMLButtonElement ? button : null
}

function wireForms() {
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const value = input('token-input').value.trim()
    if (value === '') return
    sessionStorage.setItem(TOKEN_KEY, value)
    void act(submitter(event), async () => {
      // POST /api/token changes nothing: it only answers whether the token is the API's.
      await call('POST', '/api/token')
      input('token-input').value = ''
      renderToken()
      return 'Token accepted: actions are unlocked in this tab.'
    })
  })
  byId('token-forget').addEventListener('click', () => {
    lock()
    say('Locked: the token is gone from this tab.')
  })
  byId('fetch-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const cid = input('fetch-cid').value.trim()
    void act(submitter(event), async () => {
      /** @type {TransferInfo} */
      const transfer = await call('POST', '/api/fetch', { cid })
      input('fetch-cid').value = ''
      return `Fetch of ${shortId(cid)} started (transfer ${transfer.id}).`
    })
  })
  byId('add-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const path = input('add-path').value.trim()
    const name = input('add-name').value.trim()
    void act(submitter(event), async () => {
      /** @type {DatasetInfo} */
      const added = await call('POST', '/api/datasets', name === '' ? { path } : { path, name })
      input('add-path').value = ''
      input('add-name').value = ''
      return `Added ${added.name} (${formatBytes(added.bytes)}, ${added.cid}).`
    })
  })
  byId('seed-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const name = /** @type {HTMLSelectElement} */ (byId('seed-name')).value
    void act(submitter(event), async () => {
      /** @type {DatasetInfo} */
      const added = await call('POST', '/api/seeds', { name })
      return `Generated ${added.name} (${formatBytes(added.bytes)}, ${added.cid}).`
    })
  })
}

/** Remove buttons waiting for their second click: cid -> until when (ms). @type {Map<string, number>} */
const confirming = new Map()

/** @param {string} value @param {HTMLButtonElement} button */
async function copy(value, button) {
  try {
    await navigator.clipboard.writeText(value)
  } catch {
    // No clipboard API (a page not in a secure context): select the text for Ctrl+C.
    const area = /** @type {HTMLTextAreaElement} */ (
      el('textarea', { class: 'copy-buffer', readonly: true }, value)
    )
    document.body.append(area)
    area.select()
    document.execCommand('copy')
    area.remove()
  }
  button.textContent = 'Copied'
  setTimeout(() => {
    button.textContent = 'Copy'
  }, 1500)
}

/** Clicks on buttons that tables re-create at every poll, handled once for the page. @param {MouseEvent} event */
function onClick(event) {
  const target = event.target instanceof Element ? event.target.closest('[data-action]') : null
  if (!(target instanceof HTMLButtonElement) || target.disabled) return
  const data = target.dataset
  switch (data.action) {
    case 'copy':
      void copy(data.copy ?? '', target)
      break
    case 'peer':
      openPeer(data.peer ?? '')
      break
    case 'close-peer': {
      const dialog = /** @type {HTMLDialogElement} */ (byId('peer-dialog'))
      dialog.close()
      break
    }
    case 'cancel': {
      const id = data.transfer ?? ''
      void act(target, async () => {
        await call('DELETE', `/api/transfers/${encodeURIComponent(id)}`)
        return `Transfer ${id} cancelled.`
      })
      break
    }
    case 'resume': {
      const cid = data.cid ?? ''
      void act(target, async () => {
        /** @type {TransferInfo} */
        const transfer = await call('POST', '/api/fetch', { cid })
        return `Fetch of ${shortId(cid)} resumed (transfer ${transfer.id}).`
      })
      break
    }
    case 'remove': {
      const cid = data.cid ?? ''
      if ((confirming.get(cid) ?? 0) < Date.now()) {
        confirming.set(cid, Date.now() + CONFIRM_MS)
        target.textContent = 'Confirm remove'
        target.classList.add('confirm')
        return
      }
      confirming.delete(cid)
      void act(target, async () => {
        const removed = await call('DELETE', `/api/datasets/${encodeURIComponent(cid)}`)
        return `Removed ${shortId(cid)}: ${removed.chunksDeleted} chunks, ${formatBytes(removed.bytesFreed)} freed.`
      })
      break
    }
  }
}

// ---------- panels ----------

/** @param {Snapshot} data */
function renderHeader(data) {
  const node = data.node
  setText('node-id', node.peerId)
  byId('node-id').title = node.peerId
  byId('node-id-copy').dataset.copy = node.peerId
  setText('node-version', `v${node.version}`)
  document.title = `bwnode · ${shortId(node.peerId)}`
  setText('node-uptime', `up ${formatDuration(node.uptimeSeconds)}`)
  setText(
    'node-dht',
    `DHT ${node.dhtMode} · ${node.dhtRoutingTableSize} in table · ${node.dhtJoined === null ? 'joining' : 'joined'}`,
  )
  byId('node-dht').title =
    node.dhtJoined === null
      ? 'lookups wait for the first walk of the DHT, which starts once a peer is connected'
      : `first walk of the DHT done ${node.dhtJoined.afterSeconds.toFixed(1)} s after start, ${node.dhtJoined.peersFound} peer(s) found`
  setText('node-api', window.location.origin)
  const listen = node.multiaddrs
  setText(
    'node-listen',
    listen.length === 0
      ? 'none'
      : listen.length === 1
        ? (listen[0] ?? '')
        : `${listen[0]} (+${listen.length - 1})`,
  )
  byId('node-listen').title = listen.join('\n')
  const reach = node.reachability
  setText('node-reachable', REACHABILITY[reach.kind ?? 'off'] ?? reach.kind)
  byId('node-reachable').title = [...reach.publicAddrs, ...reach.observedAddrs, ...reach.relayAddrs].join(
    '\n',
  )
  setText('node-data', node.dataDir)
}

/** NodeStatus.reachability.kind in a few words (`bwnode status` says more). */
const REACHABILITY = {
  public: 'public',
  'nat-mapped': 'behind NAT, port mapped (UPnP)',
  relayed: 'behind NAT, via relay',
  nat: 'behind NAT, no relay yet',
  private: 'local addresses only',
  off: 'loopback only',
}

/** @param {Snapshot} data */
function renderTiles(data) {
  const credits = data.credits
  setText('tile-balance', formatCredits(credits.balance))
  byId('tile-balance-sub').replaceChildren(
    el('span', { class: 'up' }, `+${formatCredits(credits.earned)} earned`),
    ' · ',
    el('span', { class: credits.spent > 0 ? 'down' : 'muted' }, `−${formatCredits(credits.spent)} spent`),
  )
  const served = data.peers.reduce((sum, p) => sum + p.servedBytes, 0)
  const fetched = data.peers.reduce((sum, p) => sum + p.fetchedBytes, 0)
  setText('tile-served', formatBytes(served))
  setText('tile-served-sub', `to ${data.peers.filter((p) => p.servedBytes > 0).length} peers since start`)
  setText('tile-fetched', formatBytes(fetched))
  setText('tile-fetched-sub', `from ${data.peers.filter((p) => p.fetchedBytes > 0).length} peers since start`)
  const bw = data.bandwidth
  setText('tile-bw', `↓ ${formatRate(bw.rateIn)}`)
  setText(
    'tile-bw-sub',
    `↑ ${formatRate(bw.rateOut)} out · ${formatBytes(bw.totalIn + bw.totalOut)} since start`,
  )
  const disk = data.disk
  const used = disk.diskTotalBytes - disk.diskFreeBytes
  setText('tile-disk', formatBytes(disk.storedBytes))
  setText(
    'tile-disk-sub',
    `stored · ${formatBytes(disk.diskFreeBytes)} free of ${formatBytes(disk.diskTotalBytes)}`,
  )
  const tight = disk.diskFreeBytes < Math.max(2 * disk.minFreeBytes, disk.diskTotalBytes * 0.05)
  replace(
    'tile-disk-bar',
    progressBar(disk.diskTotalBytes > 0 ? used / disk.diskTotalBytes : 0, tight ? 'warn' : ''),
  )
  const connected = data.peers.filter((p) => p.connected).length
  setText('tile-peers', `${connected}`)
  setText('tile-peers-sub', `connected · ${data.peers.length} known`)
  const offer = data.node.offer
  setText('tile-offer', formatMbps(offer.uplinkMbps))
  setText('tile-offer-sub', `${offer.maxConcurrent} slots · ${offer.pricePerGiB} credits/GiB`)
}

/** @param {Snapshot} data */
function renderBandwidth(data) {
  const series = data.bandwidth.series
  setText('bw-count', `last ${formatDuration((data.time - (series[0]?.time ?? data.time)) / 1000)}`)
  if (series.length < 2) {
    replace('bw-chart', emptyState('Collecting', 'Rates in and out appear every 10 seconds.'))
    return
  }
  drawTimeChart(byId('bw-chart'), {
    times: series.map((p) => p.time),
    series: [
      { name: 'in', cls: 'in', values: series.map((p) => p.rateIn) },
      { name: 'out', cls: 'out', values: series.map((p) => p.rateOut) },
    ],
    format: formatRate,
    readout: 'bw-readout',
    zero: true,
    area: true,
    minSpan: 1000,
  })
}

/** @param {Snapshot} data */
function renderLending(data) {
  const lending = data.node.lending
  const reasons = {
    schedule: 'outside the schedule',
    'daily-cap': 'daily cap reached',
    'monthly-cap': 'monthly cap reached',
  }
  replace(
    'lending-state',
    lending.open
      ? el('span', { class: 'badge good' }, 'open')
      : el(
          'span',
          { class: 'badge bad' },
          `closed · ${lending.reason === null ? '' : reasons[lending.reason]}`,
        ),
  )
  /** @param {string} label @param {number} usedBytes @param {number} capBytes */
  const cap = (label, usedBytes, capBytes) =>
    el(
      'div',
      { class: 'cap' },
      el(
        'div',
        { class: 'cap-line' },
        el('span', {}, label),
        el(
          'span',
          { class: 'num' },
          capBytes > 0
            ? `${formatBytes(usedBytes)} of ${formatBytes(capBytes)}`
            : `${formatBytes(usedBytes)} · no cap`,
        ),
      ),
      capBytes > 0 ? progressBar(usedBytes / capBytes, usedBytes >= capBytes ? 'bad' : '') : null,
    )
  const until =
    lending.until === null
      ? lending.open
        ? 'no scheduled close'
        : '–'
      : `${lending.open ? 'closes' : 'opens'} ${formatWhen(lending.until)}`
  replace(
    'lending',
    el(
      'dl',
      { class: 'kv' },
      el('dt', {}, 'Schedule'),
      el('dd', {}, lending.schedule.length === 0 ? 'always' : lending.schedule.join(', ')),
      el('dt', {}, lending.open ? 'Next close' : 'Opens'),
      el('dd', {}, until),
      el('dt', {}, 'May still serve'),
      el('dd', {}, lending.remainingBytes === null ? 'no cap' : formatBytes(lending.remainingBytes)),
    ),
    cap(`Today (${lending.day})`, lending.usedTodayBytes, lending.dailyCapBytes),
    cap(`This month (${lending.month})`, lending.usedThisMonthBytes, lending.monthlyCapBytes),
  )
}

/** @param {SnapshotPeer} peer */
function creditCell(peer) {
  return el(
    'td',
    { class: 'num' },
    peer.earned > 0 ? el('span', { class: 'up' }, `+${formatCredits(peer.earned)}`) : null,
    peer.earned > 0 && peer.spent > 0 ? ' ' : null,
    peer.spent > 0 ? el('span', { class: 'down' }, `−${formatCredits(peer.spent)}`) : null,
    peer.earned === 0 && peer.spent === 0 ? '–' : null,
  )
}

/** @param {Snapshot} data */
function renderPeers(data) {
  const peers = data.peers
  setText('peers-count', peers.length > 0 ? String(peers.length) : '')
  if (peers.length === 0) {
    replace('peers', emptyState('No peers yet', 'Start another node with --bootstrap pointing at this one.'))
    return
  }
  const rows = peers.map((peer) =>
    el(
      'tr',
      {},
      el(
        'td',
        { title: peer.peerId, class: 'id-cell' },
        el('span', {
          class: `dot${peer.connected ? ' on' : ''}`,
          title: peer.connected ? `connected (${peer.connection})` : 'known',
        }),
        el(
          'button',
          {
            type: 'button',
            class: 'link',
            'data-action': 'peer',
            'data-peer': peer.peerId,
            title: 'Details',
          },
          el('code', {}, shortId(peer.peerId)),
        ),
        copyButton(peer.peerId),
      ),
      el('td', { class: 'num' }, peer.rttMs === null ? '–' : formatMs(peer.rttMs.p50)),
      el('td', { class: 'num opt' }, peer.rttMs === null ? '–' : formatMs(peer.rttMs.p99)),
      el('td', { class: 'num muted opt' }, formatMs(peer.estimatedRttMs)),
      el(
        'td',
        { class: 'num opt' },
        peer.throughputMBps === null ? '–' : formatRate(peer.throughputMBps * 1e6),
      ),
      el('td', { class: 'num' }, formatBytes(peer.servedBytes)),
      el('td', { class: 'num' }, formatBytes(peer.fetchedBytes)),
      creditCell(peer),
    ),
  )
  replace(
    'peers',
    table(
      [
        ['Peer'],
        ['RTT p50', true],
        ['RTT p99', true, true],
        ['Est. RTT', true, true],
        ['Throughput', true, true],
        ['Served', true],
        ['Fetched', true],
        ['Credits', true],
      ],
      rows,
    ),
  )
}

/**
 * Peers placed by Vivaldi coordinate (distance ≈ predicted RTT in ms) when the
 * node knows coordinates; otherwise on rings by measured RTT around this node.
 * @param {Snapshot} data
 */
function renderMap(data) {
  const width = 360
  const height = 260
  const pad = 22
  const self = { x: data.node.coordinate.x, y: data.node.coordinate.y }
  const withCoord = data.peers.filter((p) => p.coordinate !== null)
  const withRtt = data.peers.filter((p) => p.rttMs !== null)
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' })
  if (withCoord.length > 0) {
    setText('map-title', 'Network map · Vivaldi coordinates')
    const points = [self, ...withCoord.map((p) => p.coordinate ?? self)]
    const xs = points.map((p) => p.x)
    const ys = points.map((p) => p.y)
    const span = Math.max(1, Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) * 1.15
    const cx = (Math.max(...xs) + Math.min(...xs)) / 2
    const cy = (Math.max(...ys) + Math.min(...ys)) / 2
    const scale = Math.min(width - 2 * pad, height - 2 * pad) / span
    /** @param {{ x: number, y: number }} p @returns {[number, number]} */
    const at = (p) => [width / 2 + (p.x - cx) * scale, height / 2 - (p.y - cy) * scale]
    drawGrid(chart, width, height, pad)
    const [[sx, sy] = [0, 0], ...positions] = spread([
      at(self),
      ...withCoord.map((p) => at(p.coordinate ?? self)),
    ])
    withCoord.forEach((peer, i) => {
      const [px, py] = positions[i] ?? [sx, sy]
      if (peer.connected) chart.append(svg('line', { class: 'link', x1: sx, y1: sy, x2: px, y2: py }))
    })
    withCoord.forEach((peer, i) => {
      const [px, py] = positions[i] ?? [sx, sy]
      const dot = svg('circle', { class: `peer${peer.connected ? '' : ' off'}`, cx: px, cy: py, r: 5 })
      dot.append(svg('title', {}, `${peer.peerId}\nest. RTT ${formatMs(peer.estimatedRttMs)}`))
      chart.append(dot, svg('text', { class: 'label', x: px + 8, y: py + 4 }, peerTag(peer.peerId)))
    })
    chart.append(svg('circle', { class: 'me', cx: sx, cy: sy, r: 7 }))
    chart.append(svg('text', { class: 'label', x: sx + 10, y: sy + 4 }, 'this node'))
    chart.append(
      svg(
        'text',
        { x: width - pad, y: height - 6, 'text-anchor': 'end' },
        `scale: ${Math.round(span)} ms across`,
      ),
    )
    setText('map-hint', 'Distance between two points predicts their round-trip time.')
  } else if (withRtt.length > 0) {
    setText('map-title', 'Network map · measured RTT')
    const p50 = (/** @type {SnapshotPeer} */ p) => p.rttMs?.p50 ?? 0
    const maxRtt = Math.max(1, ...withRtt.map(p50)) * 1.1
    const radius = Math.min(width, height) / 2 - pad
    const [cx, cy] = [width / 2, height / 2]
    for (const fraction of [1 / 3, 2 / 3, 1]) {
      chart.append(svg('circle', { class: 'ring', cx, cy, r: radius * fraction }))
      chart.append(svg('text', { x: cx + 4, y: cy - radius * fraction - 3 }, formatMs(maxRtt * fraction)))
    }
    withRtt.forEach((peer, i) => {
      const angle = (2 * Math.PI * i) / withRtt.length - Math.PI / 2
      const r = (p50(peer) / maxRtt) * radius
      const [px, py] = [cx + r * Math.cos(angle), cy + r * Math.sin(angle)]
      chart.append(svg('line', { class: 'link', x1: cx, y1: cy, x2: px, y2: py }))
      const dot = svg('circle', { class: `peer${peer.connected ? '' : ' off'}`, cx: px, cy: py, r: 5 })
      dot.append(svg('title', {}, `${peer.peerId}\nRTT p50 ${formatMs(p50(peer))}`))
      chart.append(dot, svg('text', { class: 'label', x: px + 8, y: py + 4 }, peerTag(peer.peerId)))
    })
    chart.append(svg('circle', { class: 'me', cx, cy, r: 7 }))
    setText('map-hint', 'Distance from the centre is the median measured RTT.')
  } else {
    setText('map-title', 'Network map')
    replace('map', emptyState('Nothing to plot yet', 'Peers appear once RTTs or coordinates are known.'))
    setText('map-hint', '')
    return
  }
  replace('map', chart)
}

/** @param {SVGElement} chart @param {number} width @param {number} height @param {number} pad */
function drawGrid(chart, width, height, pad) {
  for (let i = 0; i <= 4; i++) {
    const x = pad + ((width - 2 * pad) * i) / 4
    const y = pad + ((height - 2 * pad) * i) / 4
    chart.append(svg('line', { class: 'grid-line', x1: x, y1: pad, x2: x, y2: height - pad }))
    chart.append(svg('line', { class: 'grid-line', x1: pad, y1: y, x2: width - pad, y2: y }))
  }
}

/** @param {string} cid */
function removeButton(cid) {
  const button = actionButton('Remove', 'remove', { cid }, 'danger')
  if ((confirming.get(cid) ?? 0) >= Date.now()) {
    button.textContent = 'Confirm remove'
    button.classList.add('confirm')
  }
  return button
}

/** @param {Snapshot} data */
function renderDatasets(data) {
  const datasets = data.datasets
  setText('datasets-count', datasets.length > 0 ? String(datasets.length) : '')
  if (datasets.length === 0) {
    replace(
      'datasets',
      emptyState('No datasets cached', 'Add one above, or with `bwnode add PATH` or `bwnode seed tiny`.'),
    )
    return
  }
  const running = new Set(data.transfers.filter((t) => t.state === 'running').map((t) => t.cid))
  const maxServed = Math.max(1, ...datasets.map((d) => d.servedBytes))
  const rows = datasets.map((d) =>
    el(
      'tr',
      {},
      el(
        'td',
        { class: 'id-cell' },
        el('div', {}, d.name),
        el('code', { class: 'muted', title: d.cid }, shortId(d.cid)),
        copyButton(d.cid, 'CID'),
      ),
      el('td', { class: 'num' }, formatBytes(d.bytes)),
      el('td', { class: 'num opt' }, d.chunks.toLocaleString()),
      el(
        'td',
        {},
        d.complete
          ? el('span', { class: 'badge good' }, 'complete')
          : el('span', { class: 'badge warn' }, 'partial'),
        d.provided ? el('span', { class: 'badge' }, 'announced') : null,
      ),
      el('td', { class: 'num' }, formatBytes(d.servedBytes), progressBar(d.servedBytes / maxServed, 'thin')),
      el('td', { class: 'num muted opt' }, d.bytes > 0 ? `${(d.servedBytes / d.bytes).toFixed(1)}×` : '–'),
      el('td', { class: 'num muted opt' }, formatAgo(d.lastServedAt, data.time)),
      el(
        'td',
        { class: 'actions' },
        !d.complete && !running.has(d.cid) ? actionButton('Resume', 'resume', { cid: d.cid }) : null,
        removeButton(d.cid),
      ),
    ),
  )
  replace(
    'datasets',
    table(
      [
        ['Dataset'],
        ['Size', true],
        ['Chunks', true, true],
        ['State'],
        ['Served', true],
        ['Copies', true, true],
        ['Last served', true, true],
        [''],
      ],
      rows,
    ),
  )
}

/** @param {TransferInfo} t */
function transferFigures(t) {
  const progress = t.progress
  const total = t.result?.bytes ?? progress?.totalBytes ?? 0
  const done = t.state === 'done' ? total : (progress?.doneBytes ?? 0)
  const rate =
    t.state === 'done' && t.result !== null && t.result.seconds > 0
      ? t.result.fetchedBytes / t.result.seconds
      : (progress?.bytesPerSec ?? null)
  const providers = t.result?.providers.length ?? progress?.activeProviders ?? 0
  return { total, done, rate, providers }
}

/** @param {Snapshot} data */
function renderTransfers(data) {
  const transfers = data.transfers
  const running = transfers.filter((t) => t.state === 'running').length
  setText('transfers-count', transfers.length > 0 ? `${running} running · ${transfers.length} recent` : '')
  if (transfers.length === 0) {
    replace(
      'transfers',
      emptyState('No transfers yet', 'Fetches started above or with `bwnode fetch CID` show up here.'),
    )
    return
  }
  /** @type {Record<TransferInfo['state'], string>} */
  const badge = { running: 'warn', done: 'good', failed: 'bad', cancelled: '' }
  const rows = transfers.map((t) => {
    const { total, done, rate, providers } = transferFigures(t)
    return el(
      'tr',
      { 'data-transfer': t.id, 'data-state': t.state },
      el(
        'td',
        { class: 'id-cell' },
        el('div', {}, t.result?.name ?? t.progress?.name ?? ''),
        el('code', { class: 'muted', title: t.cid }, shortId(t.cid)),
        t.error === null ? null : el('div', { class: 'error-text' }, `${t.error.code}: ${t.error.message}`),
      ),
      el('td', {}, el('span', { class: `badge ${badge[t.state]}`.trim(), title: t.error?.message }, t.state)),
      el('td', { class: 'opt' }, progressBar(total > 0 ? done / total : 0)),
      el('td', { class: 'num' }, total > 0 ? `${formatBytes(done)} / ${formatBytes(total)}` : '–'),
      el('td', { class: 'num' }, formatRate(rate)),
      el('td', { class: 'num opt' }, String(providers)),
      el('td', { class: 'num muted opt' }, formatAgo(t.startedAt, data.time)),
      el(
        'td',
        { class: 'actions' },
        t.state === 'running' ? actionButton('Cancel', 'cancel', { transfer: t.id }) : null,
      ),
    )
  })
  replace(
    'transfers',
    table(
      [
        ['Dataset'],
        ['State'],
        ['Progress', false, true],
        ['Bytes', true],
        ['Rate', true],
        ['Providers', true, true],
        ['Started', true, true],
        [''],
      ],
      rows,
    ),
  )
}

/** @param {Snapshot} data */
function renderCredits(data) {
  const credits = data.credits
  byId('credits-facts').replaceChildren(
    el('dt', {}, 'Balance'),
    el('dd', {}, formatCredits(credits.balance)),
    el('dt', {}, 'Grant'),
    el('dd', {}, formatCredits(credits.grant)),
    el('dt', {}, 'Earned'),
    el('dd', { class: credits.earned > 0 ? 'up' : undefined }, formatCredits(credits.earned)),
    el('dt', {}, 'Spent'),
    el('dd', { class: credits.spent > 0 ? 'down' : undefined }, formatCredits(credits.spent)),
  )
  const series = credits.series
  if (series.length < 2) {
    replace(
      'credits-chart',
      emptyState('No credit movements yet', 'Serving earns credits; fetching spends them.'),
    )
    return
  }
  // A step line: the balance holds until the next ledger event.
  drawTimeChart(byId('credits-chart'), {
    times: series.map((p) => p.time),
    series: [{ name: 'balance', cls: '', values: series.map((p) => p.balance) }],
    format: formatCredits,
    readout: 'credits-readout',
    step: true,
    area: true,
    minSpan: 2,
  })
}

/** @param {Snapshot} data */
function renderOffers(data) {
  const offers = data.offers
  setText('offers-count', offers.length > 0 ? String(offers.length) : '')
  if (offers.length === 0) {
    replace(
      'offers',
      emptyState('No offers found yet', 'Offers are published on the DHT once peers connect.'),
    )
    return
  }
  const rows = offers.map((o) =>
    el(
      'tr',
      {},
      el(
        'td',
        { title: o.peerId, class: 'id-cell' },
        el('code', {}, shortId(o.peerId)),
        o.self ? el('span', { class: 'badge self' }, 'you') : null,
      ),
      el('td', { class: 'num' }, formatMbps(o.uplinkMbps)),
      el('td', { class: 'num' }, String(o.maxConcurrent)),
      el('td', { class: 'num' }, formatCredits(o.pricePerGiB)),
      el('td', { class: 'num opt' }, formatMs(o.estimatedRttMs)),
      el(
        'td',
        {},
        o.lending === null
          ? ''
          : el(
              'span',
              { class: `badge ${o.lending.open ? 'good' : 'bad'}` },
              o.lending.open ? 'open' : 'closed',
            ),
      ),
    ),
  )
  replace(
    'offers',
    table(
      [
        ['Peer'],
        ['Uplink', true],
        ['Slots', true],
        ['Price/GiB', true],
        ['Est. RTT', true, true],
        ['Lending'],
      ],
      rows,
    ),
  )
}

// ---------- the peer view ----------

/** The peer whose detail is open, or null. @type {string | null} */
let shownPeer = null

/** @param {string} peerId */
function openPeer(peerId) {
  shownPeer = peerId
  const dialog = /** @type {HTMLDialogElement} */ (byId('peer-dialog'))
  replace('peer-detail', emptyState('Loading', shortId(peerId)))
  if (!dialog.open) dialog.showModal()
  void loadPeer()
}

async function loadPeer() {
  const peerId = shownPeer
  if (peerId === null) return
  try {
    const response = await fetch(`/api/peers/${encodeURIComponent(peerId)}`, { cache: 'no-store' })
    const reply = await response.json()
    if (shownPeer !== peerId) return
    if (!response.ok) throw new Error(`${reply.error?.code}: ${reply.error?.message}`)
    renderPeer(reply)
  } catch (err) {
    if (shownPeer === peerId)
      replace(
        'peer-detail',
        emptyState('Cannot load this peer', err instanceof Error ? err.message : String(err)),
      )
  }
}

/** @param {string} title @param {...(Child | Child[])} children */
function section(title, ...children) {
  return el('section', { class: 'detail' }, el('h3', {}, title), ...children)
}

/** @param {Array<[string, Child | Child[]]>} pairs */
function kv(pairs) {
  return el(
    'dl',
    { class: 'kv' },
    pairs.flatMap(([key, value]) => [el('dt', {}, key), el('dd', {}, value)]),
  )
}

/** @param {PeerDetail} peer */
function renderPeer(peer) {
  const offered = peer.offeredBytesPerSec
  const delivered = peer.deliveredBytesPerSec
  const ratio =
    offered !== null && delivered !== null
      ? ` (${Math.round((delivered / offered) * 100)}% of the offer)`
      : ''
  const rttBox = el('div', { class: 'chart', id: 'peer-rtt-chart' })
  const body = el(
    'div',
    { class: 'detail-grid' },
    el(
      'div',
      { class: 'full-id' },
      el('code', { id: 'peer-detail-id' }, peer.peerId),
      copyButton(peer.peerId),
    ),
    section(
      'Connection',
      kv([
        [
          'State',
          peer.connected
            ? el('span', { class: 'badge good' }, 'connected')
            : el('span', { class: 'badge' }, 'not connected'),
        ],
        [
          'Open',
          peer.connections.length === 0
            ? '–'
            : el(
                'ul',
                { class: 'addrs' },
                peer.connections.map((c) =>
                  el(
                    'li',
                    {},
                    el('code', {}, c.remoteAddr),
                    ' ',
                    el(
                      'span',
                      { class: `badge ${c.relayed ? 'warn' : ''}`.trim() },
                      c.relayed ? 'relayed' : 'direct',
                    ),
                    el('span', { class: 'muted' }, `${c.direction}, ${formatAgo(c.openedAt, Date.now())}`),
                  ),
                ),
              ),
        ],
        [
          'Addresses',
          peer.addrs.length === 0
            ? '–'
            : el(
                'ul',
                { class: 'addrs' },
                peer.addrs.map((a) => el('li', {}, el('code', {}, a))),
              ),
        ],
      ]),
    ),
    section(
      'Round-trip time',
      kv([
        [
          'p50 / p90 / p99',
          peer.rttMs === null
            ? '–'
            : `${formatMs(peer.rttMs.p50)} / ${formatMs(peer.rttMs.p90)} / ${formatMs(peer.rttMs.p99)}`,
        ],
        ['Samples', peer.rttMs === null ? '0' : String(peer.rttMs.samples)],
        ['Vivaldi estimate', formatMs(peer.estimatedRttMs)],
      ]),
      rttBox,
      el('div', { class: 'legend' }, el('span', { class: 'readout', id: 'peer-rtt-readout' })),
    ),
    section(
      'Traffic since start',
      kv([
        ['Served to it', `${formatBytes(peer.traffic.totalOut)} · now ${formatRate(peer.traffic.rateOut)}`],
        ['Fetched from it', `${formatBytes(peer.traffic.totalIn)} · now ${formatRate(peer.traffic.rateIn)}`],
      ]),
    ),
    section(
      'Credits',
      kv([
        ['Earned from it', formatCredits(peer.credits.earned)],
        ['Spent on it', formatCredits(peer.credits.spent)],
        ['Served, unpaid', formatBytes(peer.credits.unpaidBytes)],
        ['Refused vouchers', String(peer.credits.rejected)],
      ]),
    ),
    section(
      'Offer vs delivered',
      kv([
        [
          'Advertised uplink',
          peer.offer === null
            ? 'no offer seen'
            : `${formatMbps(peer.offer.uplinkMbps)}${offered === null ? '' : ` (${formatRate(offered)})`}`,
        ],
        [
          'Delivered to this node',
          delivered === null ? 'nothing fetched yet' : `${formatRate(delivered)}${ratio}`,
        ],
        [
          'Price, slots',
          peer.offer === null
            ? '–'
            : `${formatCredits(peer.offer.pricePerGiB)} credits/GiB · ${peer.offer.maxConcurrent} slots`,
        ],
        ['Lending', peer.offer?.lending == null ? 'no limits' : peer.offer.lending.open ? 'open' : 'closed'],
      ]),
    ),
  )
  setText('peer-dialog-title', `Peer ${shortId(peer.peerId)}`)
  replace('peer-detail', body)
  const history = peer.rttHistory
  if (history.length >= 2) {
    drawTimeChart(rttBox, {
      times: history.map((s) => s.time),
      series: [{ name: 'RTT', cls: '', values: history.map((s) => s.rttMs) }],
      format: formatMs,
      readout: 'peer-rtt-readout',
      zero: true,
      dots: true,
      minSpan: 1,
      height: 150,
    })
  } else {
    rttBox.replaceChildren(emptyState('No RTT history yet', 'Pings run every few seconds while connected.'))
  }
}

// ---------- loop ----------

/** @type {Array<(data: Snapshot) => void>} */
const panels = [
  renderHeader,
  renderTiles,
  renderBandwidth,
  renderLending,
  renderPeers,
  renderMap,
  renderDatasets,
  renderTransfers,
  renderCredits,
  renderOffers,
]

/** @param {string} state @param {string} text */
function setLive(state, text) {
  const live = byId('live')
  live.dataset.state = state
  live.textContent = text
}

/** One poll: the snapshot, every panel, and the open peer view. */
async function refresh() {
  try {
    const response = await fetch('/api/dashboard', { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    /** @type {Snapshot} */
    const data = await response.json()
    for (const render of panels) {
      try {
        render(data)
      } catch (err) {
        console.error(render.name, err)
      }
    }
    setLive('live', `live · ${new Date(data.time).toLocaleTimeString()}`)
    document.body.dataset.loaded = 'true'
  } catch (err) {
    setLive('down', `node unreachable (${err instanceof Error ? err.message : String(err)})`)
  }
  await loadPeer()
}

async function poll() {
  await refresh()
  setTimeout(poll, POLL_MS)
}

document.addEventListener('click', onClick)
byId('peer-dialog').addEventListener('close', () => {
  shownPeer = null
})
wireForms()
renderToken()
void poll()
