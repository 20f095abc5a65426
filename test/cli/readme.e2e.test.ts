import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type LongRunning, ROOT, childEnv, runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';

/** The README's shell blocks, each as its lines (continuations joined). */
function readmeShellBlocks(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() !== ''));
}

/**
 * The README's commands, as a user types them, against a real `catapult up` with its demos. The
 * only changes: the ports are the ones this `up` got (the README's are the defaults), and
 * `npx catapult` runs this checkout's binary from the scratch folder `up` runs in.
 */
describe('the README’s commands, run as written', () => {
  const tmp = tempDir('catapult-readme-');
  let up: LongRunning;
  let api = '';
  let gateway = '';

  beforeAll(async () => {
    up = startCli(['up', '--data-dir', '.catapult', '--api-port', '0', '--gateway-port', '0', '--log-level', 'warn'], { cwd: tmp.dir });
    api = (await up.waitFor(/API\s+(http:\/\/\S+)\/api\/v1/, 60_000))[1]!;
    gateway = (await up.waitFor(/Gateway\s+(http:\/\/\S+)/, 60_000))[1]!;
    await up.waitFor(/Try:/, 120_000);
  }, 180_000);
  afterAll(async () => {
    await up?.stop();
    tmp.remove();
  });

  /** Runs one README line in bash in the scratch folder; curl fails on an HTTP error, as a user would notice one. */
  function runLine(line: string, key: string) {
    const command = line
      .replaceAll('http://127.0.0.1:8080', api)
      .replaceAll('http://127.0.0.1:8000', gateway)
      .replace(/^npx catapult /, `node ${BIN} `)
      .replace(/ examples\//, ` ${ROOT}/examples/`);
    const prelude = 'set -euo pipefail; curl() { command curl -sS --fail-with-body "$@"; echo; }';
    return spawnSync('bash', ['-c', `${prelude}\nKEY=${key}\n${command}`], { cwd: tmp.dir, encoding: 'utf8', env: childEnv({ CATAPULT_URL: api }), timeout: 300_000 });
  }

  it('has only commands that work from a checkout: no bare `catapult` a fresh clone lacks', () => {
    const lines = readmeShellBlocks().flat();
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line, 'bare catapult is not on PATH after the README’s steps').not.toMatch(/^catapult /);
  });

  it('`npx catapult` runs this checkout’s command (what the README tells people to type)', () => {
    const r = spawnSync('npx', ['--no-install', 'catapult', 'version'], { cwd: ROOT, encoding: 'utf8', env: childEnv() });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^catapult \d+\.\d+\.\d+$/);
  });

  it('runs every client command of the README’s shell blocks against `catapult up`', () => {
    const key = readFileSync(join(tmp.dir, '.catapult', 'admin.key'), 'utf8').trim();
    const ran: string[] = [];
    for (const line of readmeShellBlocks().flat()) {
      // Installing, building and starting are what this test stands on; `KEY=` is set up above.
      if (/^npm /.test(line) || /^KEY=/.test(line)) continue;
      const r = runLine(line, key);
      expect(r.status, `${line}\n${r.stdout}\n${r.stderr}`).toBe(0);
      ran.push(line.split(' ').slice(0, 2).join(' '));
    }
    expect(ran.some((l) => l.startsWith('curl'))).toBe(true);
    expect(ran.some((l) => l.startsWith('npx catapult'))).toBe(true);
  }, 400_000);

  it('`models add DIR --version 2` registers version 2 instead of printing Catapult’s version', async () => {
    const r = await runCli(['models', 'add', join(ROOT, 'models', 'iris'), '--name', 'iris-v2', '--version', '2'], { env: { CATAPULT_URL: api }, cwd: tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Registered iris-v2:2 /);
    const ls = await runCli(['models', 'ls', '--json'], { env: { CATAPULT_URL: api }, cwd: tmp.dir });
    expect((JSON.parse(ls.stdout) as { name: string; version: string }[]).find((m) => m.name === 'iris-v2')?.version).toBe('2');
    // Before the subcommand, --version is still Catapult's.
    expect((await runCli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('creates join tokens that expire after 24 hours unless told otherwise, and says when', async () => {
    const before = Date.now();
    const r = await runCli(['join-token', 'create', '--name', 'readme', '--json'], { env: { CATAPULT_URL: api }, cwd: tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    const expiresAt = (JSON.parse(r.stdout) as { token: { expiresAt: number } }).token.expiresAt;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 60_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 24 * 3600_000);
    const text = await runCli(['join-token', 'create', '--name', 'shown'], { env: { CATAPULT_URL: api }, cwd: tmp.dir });
    expect(text.stdout).toMatch(/expires \d{4}-\d\d-\d\dT/);
    const forever = await runCli(['join-token', 'create', '--name', 'forever', '--expires', 'never'], { env: { CATAPULT_URL: api }, cwd: tmp.dir });
    expect(forever.stdout).toMatch(/never expires/);
  });

  it('a second `catapult up` on a taken port says which port, that Catapult holds it, and the flag to choose another', async () => {
    const apiPort = new URL(api).port;
    const other = join(tmp.dir, 'second');
    mkdirSync(other);
    const r = await runCli(['up', '--data-dir', join(other, 'data'), '--api-port', apiPort, '--gateway-port', '0', '--no-demo', '--log-level', 'warn'], { cwd: other, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${apiPort}`);
    expect(r.stderr).toMatch(/in use by another Catapult/);
    expect(r.stderr).toContain('--api-port');
    expect(r.stderr).not.toMatch(/^\s+at /m);

    const gatewayPort = new URL(gateway).port;
    const g = await runCli(['up', '--data-dir', join(other, 'data2'), '--api-port', '0', '--gateway-port', gatewayPort, '--no-demo', '--log-level', 'warn'], { cwd: other, timeoutMs: 60_000 });
    expect(g.code).toBe(1);
    expect(g.stderr).toContain(`127.0.0.1:${gatewayPort}`);
    expect(g.stderr).toMatch(/in use by another Catapult \(its gateway/);
    expect(g.stderr).toContain('--gateway-port');
  });
});
