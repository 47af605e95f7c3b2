import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BIN, tempDir, waitFor } from '../helpers/daemon.ts'

describe('bwnode start and signals', () => {
  it('a SIGTERM while the node is still starting stops it cleanly once it is up', async () => {
    const dataDir = await tempDir()
    const child = spawn(
      process.execPath,
      [BIN, 'start', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (code, signal) => resolve([code, signal])),
    )
    // The identity is written after the handlers are installed and before libp2p starts: the
    // moment the key file appears, the node is mid-start.
    await waitFor(
      async () => ((await stat(join(dataDir, 'peer.key')).catch(() => undefined)) ? true : undefined),
      {
        intervalMs: 5,
        what: 'peer.key',
      },
    )
    child.kill('SIGTERM')
    const [code, signal] = await exited
    expect(signal, output).toBeNull()
    expect(code, output).toBe(0)
    // Whatever point it reached, it leaves no api.json claiming a live daemon.
    await expect(stat(join(dataDir, 'api.json'))).rejects.toThrow()
  })
})
