#!/usr/bin/env node
// Entry point of the `catapult` command; the TypeScript sources are compiled to dist/ by `npm run build`.
import { main } from '../dist/src/cli/index.js';

main(process.argv).catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
