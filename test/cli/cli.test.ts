import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LongRunning, runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/services.js';

describe('the catapult command', () => {
  const tmp = tempDir();
  let up: LongRunning;
  let apiUrl: string;
  let adminKey: string;

  beforeAll(async () => {
    up = startCli(['up', '--data-dir', join(tmp.dir, 'data'), '--api-port', '0', '--gateway-port', '0', '--log-level', 'warn']);
    const api = await up.waitFor(/API\s+(http:\/\/\S+)\/api\/v1/);
    apiUrl = api[1]!;
    adminKey = (await up.waitFor(/Admin key\s+(cat_\S+)/))[1]!;
  });
  afterAll(async () => {
    await up.stop();
    tmp.remove();
  });

  it('`up` prints the API URL, the docs URL and the new admin key, and serves /health', async () => {
    expect(up.stdout()).toMatch(/API docs\s+http:\/\/\S+\/api\/docs/);
    const res = await fetch(`${apiUrl}/health`);
    expect(res.status).toBe(200);
    const who = await fetch(`${apiUrl}/api/v1/whoami`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await who.json()) as { scopes: string[] }).scopes).toEqual(['admin']);
  });

  it('writes the admin key to <data-dir>/admin.key readable only by its owner', () => {
    const st = statSync(join(tmp.dir, 'data', 'admin.key'));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('creates, lists and revokes keys through the API named by CATAPULT_URL and CATAPULT_API_KEY', async () => {
    const env = { CATAPULT_URL: apiUrl, CATAPULT_API_KEY: adminKey };
    const created = await runCli(['keys', 'create', '--name', 'bench bot', '--scopes', 'bench,read', '--json'], { env });
    expect(created.code, created.stderr).toBe(0);
    const { key, secret } = JSON.parse(created.stdout) as { key: { id: string }; secret: string };
    expect(secret).toMatch(/^cat_/);

    const ls = await runCli(['keys', 'ls'], { env });
    expect(ls.stdout).toMatch(/bench bot\s+cat_\S+…\s+bench,read/);

    const revoked = await runCli(['keys', 'revoke', key.id], { env });
    expect(revoked.stdout).toContain(`Revoked ${key.id}`);
    expect((await runCli(['keys', 'ls'], { env })).stdout).not.toContain('bench bot');
    expect((await runCli(['keys', 'ls', '--all'], { env })).stdout).toMatch(/bench bot.*revoked/);
  });

  it('falls back to the admin key file in the data dir when no key is given', async () => {
    const res = await runCli(['keys', 'ls', '--json'], { env: { CATAPULT_URL: apiUrl, CATAPULT_DATA_DIR: join(tmp.dir, 'data') } });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'bootstrap admin' })]));
  });

  it('explains an API error with its code and what to do', async () => {
    const res = await runCli(['keys', 'create', '--name', 'x', '--scopes', 'root'], { env: { CATAPULT_URL: apiUrl, CATAPULT_API_KEY: adminKey } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('CATAPULT_VALIDATION_FAILED');
    expect(res.stderr).toContain('body/scopes/0');
    expect(res.stderr).toMatch(/hint: /);
  });

  it('says clearly when the API cannot be reached', async () => {
    const res = await runCli(['keys', 'ls'], { env: { CATAPULT_URL: 'http://127.0.0.1:9', CATAPULT_API_KEY: 'cat_x' } });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Cannot reach the Catapult API at http:\/\/127\.0\.0\.1:9/);
  });

  it('does not mint a second admin key when restarted on the same data dir', async () => {
    const dir = tempDir();
    const first = startCli(['up', '--data-dir', dir.dir, '--api-port', '0', '--gateway-port', '0', '--no-demo', '--log-level', 'warn']);
    await first.waitFor(/Admin key\s+cat_/);
    expect(await first.stop()).toBe(0);
    const second = startCli(['up', '--data-dir', dir.dir, '--api-port', '0', '--gateway-port', '0', '--no-demo', '--log-level', 'warn']);
    await second.waitFor(/Admin key\s+in .*admin\.key/);
    expect(second.stdout()).not.toMatch(/cat_[A-Za-z0-9_-]{20}/);
    await second.stop();
    dir.remove();
  });

  it('rejects an invalid setting before starting, naming it', async () => {
    const res = await runCli(['up', '--api-port', 'eighty'], { env: {} });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('apiPort (from --api-port)');
  });

  it('prints its version and help', async () => {
    expect((await runCli(['version'])).stdout).toMatch(/^catapult \d+\.\d+\.\d+/);
    const help = await runCli(['--help']);
    expect(help.stdout).toContain('up');
    expect(help.stdout).toContain('keys');
    const keysHelp = await runCli(['keys', 'create', '--help']);
    expect(keysHelp.stdout).toContain('--scopes');
  });
});
