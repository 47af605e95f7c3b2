#!/usr/bin/env node
// Plain JavaScript on purpose: it must run on any Node to say which Node it needs.
// The CLI itself is TypeScript, run by Node's built-in type stripping (Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `bwnode needs Node.js >= 22.18 (libp2p 3 and TypeScript type stripping); this is Node ${process.versions.node}.\n` +
      'From a clone, run it through npm so the bundled Node 24 is used: `npx bwnode ...` or `npm start`.\n',
  )
  process.exit(2)
}
await import('../src/cli/main.ts')
