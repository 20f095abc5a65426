// Runs the `catapult` CLI from the TypeScript sources (through tsx), so process tests need no build.
import { main } from '../../src/cli/index.js';

await main(process.argv);
