// Entry of the lifeline watcher process (see lifeline.ts): `node lifelineMain.js <replicas dir>`.
import { watchLifeline } from './lifeline.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: lifelineMain <replicas dir>\n');
  process.exit(2);
}
watchLifeline(dir);
