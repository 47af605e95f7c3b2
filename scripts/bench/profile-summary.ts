/** Self time per function (top 40) of a .cpuprofile written by node --cpu-prof. */
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
const profile = JSON.parse(await readFile(process.argv[2] as string, 'utf8')) as {
  nodes: ProfileNode[]
  samples: number[]
}
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<string, number>()
for (const id of profile.samples) {
  const frame = byId.get(id)?.callFrame
  if (frame === undefined) continue
  const where = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '')
  const key = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + 1)
}
const total = profile.samples.length
for (const [key, count] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
  console.log(`${((count / total) * 100).toFixed(1).padStart(5)}%  ${key}`)
}
