// Rewrites the configuration table in README.md from the settings schema: `npm run docs:config`.
import { readFileSync, writeFileSync } from 'node:fs';
import { configTableMarkdown } from '../src/config/index.js';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';
const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error('README.md lacks the config-table markers');
writeFileSync(file, `${readme.slice(0, a + START.length)}\n${configTableMarkdown()}\n${readme.slice(b)}`);
process.stdout.write('README.md configuration table updated\n');
