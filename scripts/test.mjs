#!/usr/bin/env node
// `npm test [-- --quick] [-- VITEST_ARGS...]`: the one test command, for people and for CI (.ci/run).
// 1. scripts/test-setup.sh installs the Debian packages the suites need and starts their services
//    (Postgres, and each scripts/services/*.sh); it stops here, naming what to install, when it cannot.
// 2. build, 3. lint and type-check, 4. every Vitest suite (arguments after `--` go to Vitest).
// `--quick` (or CATAPULT_TEST_QUICK=1) installs nothing and skips the suites whose services are
// missing; the run's summary lists them and why. Nothing is skipped otherwise.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const env = { ...process.env };
if (args.includes('--quick')) env.CATAPULT_TEST_QUICK = '1';
const vitestArgs = args.filter((a) => a !== '--quick');

function step(what, command, commandArgs) {
  process.stderr.write(`\n== ${what}\n`);
  const r = spawnSync(command, commandArgs, { cwd: root, env, stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`${what}: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
step('install and start what the suites need (scripts/test-setup.sh)', 'bash', ['scripts/test-setup.sh']);
step('build', npm, ['run', 'build', '--silent']);
step('lint and type-check', npm, ['run', 'lint', '--silent']);
step('tests', process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...vitestArgs]);
