// Preloaded with `node --import` by the start-up tests: records the URL of every module the
// process loads (ESM and CommonJS, through Node's synchronous module hooks) and writes them,
// one per line, to the file named by BWNODE_LOAD_LOG when the process exits.
import { writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const loaded = new Set<string>()
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url)
    return nextLoad(url, context)
  },
})
process.on('exit', () => {
  const file = process.env.BWNODE_LOAD_LOG
  if (file !== undefined) writeFileSync(file, [...loaded].join('\n'))
})
