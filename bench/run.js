#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs the compiled benchmark bench/NAME/index.ts (built by `npm run build`).
// Each benchmark prints one JSON object as its last line: { bench, ..., goals: { NAME: { value, target, met } } }.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(join(root, 'bench'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'bench', d.name, 'index.ts')))
  .map((d) => d.name);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- NAME [args]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}
const entry = join(root, 'dist', 'bench', name, 'index.js');
if (!existsSync(entry)) {
  process.stderr.write(`${entry} is missing; run \`npm run build\` first.\n`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--expose-gc', entry, ...args], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
