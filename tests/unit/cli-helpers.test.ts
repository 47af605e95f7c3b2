import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dhtJoinText } from '../../src/cli/commands/status.ts'
import { parseApiUrl } from '../../src/client/api-client.ts'
import { plural } from '../../src/util/format.ts'
import { packageVersion } from '../../src/util/version.ts'

describe('CLI helpers', () => {
  it('status says whether the node has joined the DHT, and lookups wait until it has', () => {
    expect(dhtJoinText(null)).toMatch(/^joining \(lookups wait for the first walk of the DHT/)
    expect(dhtJoinText({ afterSeconds: 1.234, peersFound: 1 })).toBe(
      'joined 1.2 s after start (first walk found 1 peer)',
    )
  })

  it('plural says "1 peer" and "2 peers"', () => {
    expect(plural(0, 'peer')).toBe('0 peers')
    expect(plural(1, 'peer')).toBe('1 peer')
    expect(plural(2, 'peer')).toBe('2 peers')
    expect(plural(1, 'connected peer')).toBe('1 connected peer')
  })

  it('--api takes http(s) URLs and calls anything else not a URL', () => {
    expect(parseApiUrl('http://127.0.0.1:4020/')).toBe('http://127.0.0.1:4020')
    expect(parseApiUrl('https://node.example:443')).toBe('https://node.example:443')
    expect(() => parseApiUrl('notaurl')).toThrow(/--api notaurl is not a URL/)
    expect(() => parseApiUrl('127.0.0.1:4020')).toThrow(/is not (a|an http)/)
    expect(() => parseApiUrl('ftp://host')).toThrow(/not an http:\/\/ or https:\/\/ URL/)
  })

  it('the version comes from the package.json it is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bwnode-pkg-'))
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x', version: '9.8.7' }))
    expect(packageVersion(join(dir, 'package.json'))).toBe('9.8.7')
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'x' }))
    expect(() => packageVersion(join(dir, 'package.json'))).toThrow(/no "version"/)
  })
})
