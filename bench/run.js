#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs the compiled benchmark bench/NAME/index.ts (built by `npm run build`).
// Each benchmark prints one JSON object as its last line: { bench, ..., goals: { NAME: { value, target, met } } }.
// Before it starts, what the benchmark drives is installed or started through scripts/test-setup.sh (the
// runner `npm test` uses), which stops with the packages to install and the command when it cannot.
import { spawn, spawnSync } from 'node:child_process';
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

// What each benchmark drives outside Node: Debian packages and scripts/services/NAME.sh services.
// npm packages (autocannon, pg-boss, playwright-core) come with `npm ci`.
const NEEDS = {
  startup: {},
  tasks: { service: ['postgres'] },
  cluster: {},
  deploy: {},
  gateway: { apt: ['wrk', 'nginx'] },
  loadgen: { apt: ['nginx'], npm: ['autocannon'] },
  console: { apt: ['chromium'] },
};
const needs = NEEDS[name] ?? {};
for (const pkg of needs.npm ?? []) {
  if (!existsSync(join(root, 'node_modules', pkg))) {
    process.stderr.write(`benchmark ${name} needs the npm package ${pkg}; run \`npm ci\` first.\n`);
    process.exit(2);
  }
}
const setupArgs = [
  ...(needs.apt?.length ? ['--apt', ...needs.apt] : []),
  ...(needs.service?.length ? ['--service', ...needs.service] : []),
];
if (setupArgs.length > 0) {
  const setup = spawnSync('bash', [join(root, 'scripts', 'test-setup.sh'), ...setupArgs], { stdio: 'inherit' });
  if (setup.status !== 0) {
    process.stderr.write(`benchmark ${name} cannot start: what it needs is missing (see above).\n`);
    process.exit(setup.status ?? 1);
  }
}

const entry = join(root, 'dist', 'bench', name, 'index.js');
if (!existsSync(entry)) {
  process.stderr.write(`${entry} is missing; run \`npm run build\` first.\n`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--expose-gc', entry, ...args], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
