// The bwnode dashboard: polls GET /api/dashboard and redraws. Read-only.
// Every value from the node (names, ids) goes into the page as text, never as
// HTML: dataset names and peer ids come from other peers.

const POLL_MS = 1500
const SVG_NS = 'http://www.w3.org/2000/svg'

// ---------- formatting ----------

// formatBytes and formatRate are src/util/format.ts's, in the one base (SI: kB = 1000 B) the CLI,
// the lab and the reports print; tests/unit/format.test.ts checks that the copies agree.
const SI_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

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

function formatRate(bytesPerSec) {
  return Number.isFinite(bytesPerSec) ? `${formatBytes(bytesPerSec)}/s` : '–'
}

function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  return `${Math.round(ms)} ms`
}

function formatCredits(value) {
  if (!Number.isFinite(value)) return '–'
  const abs = Math.abs(value)
  const digits = abs >= 10 ? 2 : 4
  return value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function formatDuration(seconds) {
  const s = Math.floor(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`
}

function formatAgo(time, now) {
  if (time === null || time === undefined) return 'never'
  return `${formatDuration(Math.max(0, (now - time) / 1000))} ago`
}

function shortId(id) {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
}

/** The end of a peer id: every Ed25519 libp2p id starts with the same "12D3KooW". */
function peerTag(id) {
  return `…${id.slice(-6)}`
}

/**
 * Moves points whose dot or label (to the right of the dot) would cover
 * another's, up or down in steps, so every peer stays visible and readable.
 */
function spread(points, labelWidth = 64, rowHeight = 15) {
  const placed = []
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

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue
    if (key === 'class') node.className = value
    else node.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag)
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value))
  if (text !== undefined) node.textContent = text
  return node
}

function setText(id, text) {
  const node = document.getElementById(id)
  if (node !== null) node.textContent = text
}

function replace(id, ...children) {
  const node = document.getElementById(id)
  if (node !== null) node.replaceChildren(...children)
}

function emptyState(title, detail) {
  return el('div', { class: 'empty' }, el('strong', {}, title), detail)
}

function table(headers, rows) {
  const head = el(
    'tr',
    {},
    headers.map(([label, numeric]) => el('th', { class: numeric ? 'num' : undefined }, label)),
  )
  return el('table', {}, el('thead', {}, head), el('tbody', {}, rows))
}

function progressBar(fraction) {
  const pct = Math.max(0, Math.min(1, fraction)) * 100
  const fill = el('span')
  fill.style.width = `${pct.toFixed(1)}%`
  return el('div', { class: 'bar', role: 'progressbar', 'aria-valuenow': pct.toFixed(0) }, fill)
}

// ---------- panels ----------

function renderHeader(data) {
  const node = data.node
  setText('node-id', node.peerId)
  document.title = `bwnode · ${shortId(node.peerId)}`
  setText('node-uptime', `up ${formatDuration(node.uptimeSeconds)}`)
  setText('node-dht', `DHT ${node.dhtMode} · ${node.dhtRoutingTableSize} in table`)
}

function renderTiles(data) {
  const credits = data.credits
  setText('tile-balance', formatCredits(credits.balance))
  const sub = document.getElementById('tile-balance-sub')
  sub.replaceChildren(
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
  const connected = data.peers.filter((p) => p.connected).length
  setText('tile-peers', `${connected}`)
  setText('tile-peers-sub', `connected · ${data.peers.length} known`)
  const offer = data.node.offer
  setText('tile-offer', offer.uplinkMbps > 0 ? `${offer.uplinkMbps} Mbit/s` : 'uncapped')
  setText('tile-offer-sub', `${offer.maxConcurrent} slots · ${offer.pricePerGiB} credits/GiB`)
}

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
        { title: peer.peerId },
        el('span', {
          class: `dot${peer.connected ? ' on' : ''}`,
          title: peer.connected ? 'connected' : 'known',
        }),
        el('code', {}, shortId(peer.peerId)),
      ),
      el('td', { class: 'num' }, peer.rttMs === null ? '–' : formatMs(peer.rttMs.p50)),
      el('td', { class: 'num' }, peer.rttMs === null ? '–' : formatMs(peer.rttMs.p99)),
      el('td', { class: 'num muted' }, formatMs(peer.estimatedRttMs)),
      el('td', { class: 'num' }, peer.throughputMBps === null ? '–' : formatRate(peer.throughputMBps * 1e6)),
      el('td', { class: 'num' }, formatBytes(peer.servedBytes)),
      el('td', { class: 'num' }, formatBytes(peer.fetchedBytes)),
      el(
        'td',
        { class: 'num' },
        peer.earned > 0 ? el('span', { class: 'up' }, `+${formatCredits(peer.earned)}`) : null,
        peer.earned > 0 && peer.spent > 0 ? ' ' : null,
        peer.spent > 0 ? el('span', { class: 'down' }, `−${formatCredits(peer.spent)}`) : null,
        peer.earned === 0 && peer.spent === 0 ? '–' : null,
      ),
    ),
  )
  replace(
    'peers',
    table(
      [
        ['Peer'],
        ['RTT p50', true],
        ['RTT p99', true],
        ['Est. RTT', true],
        ['Throughput', true],
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
    const points = [self, ...withCoord.map((p) => p.coordinate)]
    const xs = points.map((p) => p.x)
    const ys = points.map((p) => p.y)
    const span = Math.max(1, Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) * 1.15
    const cx = (Math.max(...xs) + Math.min(...xs)) / 2
    const cy = (Math.max(...ys) + Math.min(...ys)) / 2
    const scale = Math.min(width - 2 * pad, height - 2 * pad) / span
    const at = (p) => [width / 2 + (p.x - cx) * scale, height / 2 - (p.y - cy) * scale]
    drawGrid(chart, width, height, pad)
    const [[sx, sy], ...positions] = spread([at(self), ...withCoord.map((p) => at(p.coordinate))])
    withCoord.forEach((peer, i) => {
      const [px, py] = positions[i]
      if (peer.connected) chart.append(svg('line', { class: 'link', x1: sx, y1: sy, x2: px, y2: py }))
    })
    withCoord.forEach((peer, i) => {
      const [px, py] = positions[i]
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
    const maxRtt = Math.max(1, ...withRtt.map((p) => p.rttMs.p50)) * 1.1
    const radius = Math.min(width, height) / 2 - pad
    const [cx, cy] = [width / 2, height / 2]
    for (const fraction of [1 / 3, 2 / 3, 1]) {
      chart.append(svg('circle', { class: 'ring', cx, cy, r: radius * fraction }))
      chart.append(svg('text', { x: cx + 4, y: cy - radius * fraction - 3 }, formatMs(maxRtt * fraction)))
    }
    withRtt.forEach((peer, i) => {
      const angle = (2 * Math.PI * i) / withRtt.length - Math.PI / 2
      const r = (peer.rttMs.p50 / maxRtt) * radius
      const [px, py] = [cx + r * Math.cos(angle), cy + r * Math.sin(angle)]
      chart.append(svg('line', { class: 'link', x1: cx, y1: cy, x2: px, y2: py }))
      const dot = svg('circle', { class: `peer${peer.connected ? '' : ' off'}`, cx: px, cy: py, r: 5 })
      dot.append(svg('title', {}, `${peer.peerId}\nRTT p50 ${formatMs(peer.rttMs.p50)}`))
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

function drawGrid(chart, width, height, pad) {
  for (let i = 0; i <= 4; i++) {
    const x = pad + ((width - 2 * pad) * i) / 4
    const y = pad + ((height - 2 * pad) * i) / 4
    chart.append(svg('line', { class: 'grid-line', x1: x, y1: pad, x2: x, y2: height - pad }))
    chart.append(svg('line', { class: 'grid-line', x1: pad, y1: y, x2: width - pad, y2: y }))
  }
}

function renderDatasets(data) {
  const datasets = data.datasets
  setText('datasets-count', datasets.length > 0 ? String(datasets.length) : '')
  if (datasets.length === 0) {
    replace(
      'datasets',
      emptyState('No datasets cached', 'Add one with `bwnode add PATH` or `bwnode seed tiny`.'),
    )
    return
  }
  const maxServed = Math.max(1, ...datasets.map((d) => d.servedBytes))
  const rows = datasets.map((d) =>
    el(
      'tr',
      {},
      el('td', {}, el('div', {}, d.name), el('code', { class: 'muted', title: d.cid }, shortId(d.cid))),
      el('td', { class: 'num' }, formatBytes(d.bytes)),
      el('td', { class: 'num' }, d.chunks.toLocaleString()),
      el(
        'td',
        {},
        d.complete
          ? el('span', { class: 'badge good' }, 'complete')
          : el('span', { class: 'badge warn' }, 'partial'),
        d.provided ? el('span', { class: 'badge' }, 'announced') : null,
      ),
      el('td', { class: 'num' }, formatBytes(d.servedBytes)),
      el('td', { class: 'num muted' }, d.bytes > 0 ? `${(d.servedBytes / d.bytes).toFixed(1)}×` : '–'),
      el('td', {}, progressBar(d.servedBytes / maxServed)),
      el('td', { class: 'num muted' }, formatAgo(d.lastServedAt, data.time)),
    ),
  )
  replace(
    'datasets',
    table(
      [
        ['Dataset'],
        ['Size', true],
        ['Chunks', true],
        ['State'],
        ['Served', true],
        ['Copies', true],
        [''],
        ['Last served', true],
      ],
      rows,
    ),
  )
}

function renderTransfers(data) {
  const transfers = data.transfers
  const running = transfers.filter((t) => t.state === 'running').length
  setText('transfers-count', transfers.length > 0 ? `${running} running · ${transfers.length} recent` : '')
  if (transfers.length === 0) {
    replace(
      'transfers',
      emptyState('No transfers yet', 'Fetches started with `bwnode fetch CID` show up here.'),
    )
    return
  }
  const badge = { running: 'warn', done: 'good', failed: 'bad', cancelled: '' }
  const rows = transfers.map((t) => {
    const progress = t.progress
    const total = t.result?.bytes ?? progress?.totalBytes ?? 0
    const done = t.state === 'done' ? total : (progress?.doneBytes ?? 0)
    const rate =
      t.state === 'done' && t.result !== null && t.result.seconds > 0
        ? t.result.fetchedBytes / t.result.seconds
        : (progress?.bytesPerSec ?? null)
    const providers = t.result?.providers.length ?? progress?.activeProviders ?? 0
    return el(
      'tr',
      {},
      el(
        'td',
        {},
        el('div', {}, t.result?.name ?? progress?.name ?? ''),
        el('code', { class: 'muted', title: t.cid }, shortId(t.cid)),
      ),
      el('td', {}, el('span', { class: `badge ${badge[t.state] ?? ''}`, title: t.error?.message }, t.state)),
      el('td', {}, progressBar(total > 0 ? done / total : 0)),
      el('td', { class: 'num' }, total > 0 ? `${formatBytes(done)} / ${formatBytes(total)}` : '–'),
      el('td', { class: 'num' }, formatRate(rate)),
      el('td', { class: 'num' }, String(providers)),
      el('td', { class: 'num muted' }, formatAgo(t.startedAt, data.time)),
    )
  })
  replace(
    'transfers',
    table(
      [
        ['Dataset'],
        ['State'],
        ['Progress'],
        ['Bytes', true],
        ['Rate', true],
        ['Providers', true],
        ['Started', true],
      ],
      rows,
    ),
  )
}

function renderCredits(data) {
  const credits = data.credits
  const facts = document.getElementById('credits-facts')
  facts.replaceChildren(
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
  const width = 360
  const height = 180
  const [left, right, top, bottom] = [52, 10, 10, 22]
  const t0 = series[0].time
  const t1 = Math.max(series[series.length - 1].time, t0 + 1)
  const values = series.map((p) => p.balance)
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  if (hi - lo < 1e-9) {
    lo -= 1
    hi += 1
  }
  const margin = (hi - lo) * 0.08
  lo -= margin
  hi += margin
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right)
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom)
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' })
  for (let i = 0; i <= 3; i++) {
    const v = lo + ((hi - lo) * i) / 3
    chart.append(svg('line', { class: 'grid-line', x1: left, y1: y(v), x2: width - right, y2: y(v) }))
    chart.append(svg('text', { x: left - 6, y: y(v) + 3, 'text-anchor': 'end' }, formatCredits(v)))
  }
  // A step line: the balance holds until the next ledger event.
  let path = `M${x(series[0].time)},${y(series[0].balance)}`
  for (let i = 1; i < series.length; i++) {
    path += ` H${x(series[i].time)} V${y(series[i].balance)}`
  }
  const area = `${path} V${height - bottom} H${x(series[0].time)} Z`
  chart.append(svg('path', { class: 'area', d: area }), svg('path', { class: 'series', d: path }))
  chart.append(
    svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }),
  )
  const clock = (t) =>
    new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  chart.append(svg('text', { x: left, y: height - 6 }, clock(t0)))
  chart.append(svg('text', { x: width - right, y: height - 6, 'text-anchor': 'end' }, clock(t1)))
  replace('credits-chart', chart)
}

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
        { title: o.peerId },
        el('code', {}, shortId(o.peerId)),
        o.self ? el('span', { class: 'badge self' }, 'you') : null,
      ),
      el('td', { class: 'num' }, o.uplinkMbps > 0 ? `${o.uplinkMbps} Mbit/s` : 'uncapped'),
      el('td', { class: 'num' }, String(o.maxConcurrent)),
      el('td', { class: 'num' }, formatCredits(o.pricePerGiB)),
      el('td', { class: 'num' }, formatMs(o.estimatedRttMs)),
    ),
  )
  replace(
    'offers',
    table([['Peer'], ['Uplink', true], ['Slots', true], ['Price/GiB', true], ['Est. RTT', true]], rows),
  )
}

// ---------- loop ----------

const panels = [
  renderHeader,
  renderTiles,
  renderPeers,
  renderMap,
  renderDatasets,
  renderTransfers,
  renderCredits,
  renderOffers,
]

function setLive(state, text) {
  const live = document.getElementById('live')
  live.dataset.state = state
  live.textContent = text
}

async function poll() {
  try {
    const response = await fetch('/api/dashboard', { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
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
    setLive('down', `node unreachable (${err.message})`)
  } finally {
    setTimeout(poll, POLL_MS)
  }
}

poll()
