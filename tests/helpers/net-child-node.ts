/**
 * A test node in its own process, for checking that the link preamble works across processes.
 * argv[2] is the node's link as JSON. Prints its multiaddr on one line, then runs until stdin closes.
 */
import { createTestNode } from '../../scripts/net-helpers.ts'

const node = await createTestNode({ link: JSON.parse(process.argv[2] ?? '{}') })
process.stdout.write(`${node.getMultiaddrs()[0]?.toString()}\n`)
process.stdin.resume()
process.stdin.on('end', async () => {
  await node.stop()
  process.exit(0)
})
