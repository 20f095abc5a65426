import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const SETUP = join(ROOT, 'scripts', 'test-setup.sh');
const NOT_A_PACKAGE = 'catapult-no-such-debian-package';

/** Runs the setup runner as an unprivileged user (root can install, which these tests must not do). */
function setupAsUser(args: string[], env: Record<string, string> = {}) {
  const asRoot = process.getuid?.() === 0;
  // Quick mode of the run these tests are part of must not leak into the runner under test.
  const envArgs = Object.entries({ CATAPULT_TEST_QUICK: '', ...env }).map(([k, v]) => `${k}=${v}`);
  const argv = asRoot ? ['runuser', '-u', 'nobody', '--', 'env', ...envArgs, 'bash', SETUP, ...args] : ['env', ...envArgs, 'bash', SETUP, ...args];
  return spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8' });
}

describe('the test command installs what the suites need instead of skipping them', () => {
  it('covers the base packages and every service script’s apt line', () => {
    const r = spawnSync('bash', [SETUP, '--print-packages'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const listed = r.stdout.trim().split('\n');
    for (const pkg of ['postgresql-client', 'nginx', 'wrk', 'espeak-ng', 'sox', 'pocketsphinx', 'pocketsphinx-en-us', 'chromium']) expect(listed).toContain(pkg);
    const scripts = readdirSync(join(ROOT, 'scripts', 'services')).filter((f) => f.endsWith('.sh'));
    expect(scripts).toContain('postgres.sh');
    for (const script of scripts) {
      const line = /^# apt:(.*)$/m.exec(readFileSync(join(ROOT, 'scripts', 'services', script), 'utf8'));
      expect(line, `${script} has a "# apt:" line`).not.toBeNull();
      for (const pkg of line![1]!.trim().split(/\s+/)) expect(listed, `${pkg} from ${script}`).toContain(pkg);
    }
  });

  it('stops before the tests, naming the package and the command, when it cannot install', () => {
    const r = setupAsUser(['--apt', NOT_A_PACKAGE]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`missing Debian packages: ${NOT_A_PACKAGE}`);
    expect(r.stderr).toContain(`apt-get install -y --no-install-recommends ${NOT_A_PACKAGE}`);
  });

  it('in quick mode goes on without installing, saying what will be skipped', () => {
    const r = setupAsUser(['--apt', NOT_A_PACKAGE], { CATAPULT_TEST_QUICK: '1' });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`not installing ${NOT_A_PACKAGE}`);
  });

  it('is what the README’s test command and CI run, so the two cannot drift', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toBe('node scripts/test.mjs');
    expect(readFileSync(join(ROOT, 'scripts', 'test.mjs'), 'utf8')).toContain("'scripts/test-setup.sh'");
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/## Run the tests\s+```sh\nnpm ci && npm test\n```/);
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    const commands = ci.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^(set|cd) /.test(l));
    expect(commands).toEqual(['npm ci --no-audit --no-fund', 'npm test']);
  });
});
