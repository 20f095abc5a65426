import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/services.js';
import { CONFIG_KEYS, envName, loadConfig } from './index.js';

describe('configuration', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('gives every setting a default, so an empty environment is a valid configuration', () => {
    const config = loadConfig({ env: {}, cwd: tmp.dir });
    expect(config.dataDir).toBe('./.catapult');
    expect(config.apiPort).toBe(8080);
    expect(config.gatewayPort).toBe(8000);
    expect(config.databaseUrl).toBe('');
    for (const key of CONFIG_KEYS) expect(config[key]).toBeDefined();
  });

  it('names environment variables CATAPULT_ plus the setting in upper snake case', () => {
    expect(envName('apiPort')).toBe('CATAPULT_API_PORT');
    expect(envName('databaseUrl')).toBe('CATAPULT_DATABASE_URL');
  });

  it('takes flags over the environment over catapult.yaml over defaults', () => {
    const dir = tempDir();
    writeFileSync(join(dir.dir, 'catapult.yaml'), 'apiPort: 9001\ngatewayPort: 9002\nlogLevel: debug\n');
    const config = loadConfig({
      env: { CATAPULT_GATEWAY_PORT: '9102', CATAPULT_LOG_LEVEL: 'warn' },
      overrides: { logLevel: 'error' },
      cwd: dir.dir,
    });
    expect(config.apiPort).toBe(9001);
    expect(config.gatewayPort).toBe(9102);
    expect(config.logLevel).toBe('error');
    dir.remove();
  });

  it('says which setting is wrong and where the bad value came from', () => {
    expect(() => loadConfig({ env: { CATAPULT_API_PORT: 'eighty' }, cwd: tmp.dir })).toThrow(/apiPort \(from CATAPULT_API_PORT\)/);
    expect(() => loadConfig({ env: { CATAPULT_DATABASE_URL: 'mysql://x' }, cwd: tmp.dir })).toThrow(/postgres:\/\//);
  });

  it('rejects unknown settings in catapult.yaml and lists the known ones', () => {
    const dir = tempDir();
    writeFileSync(join(dir.dir, 'catapult.yaml'), 'apiPrt: 9001\n');
    expect(() => loadConfig({ env: {}, cwd: dir.dir })).toThrow(/unknown setting\(s\) apiPrt.*known settings: .*apiPort/s);
    dir.remove();
  });

  it('reports a YAML syntax error with its line', () => {
    const dir = tempDir();
    writeFileSync(join(dir.dir, 'catapult.yaml'), 'apiPort: 1\nlogLevel: [unclosed\n');
    expect(() => loadConfig({ env: {}, cwd: dir.dir })).toThrow(/catapult\.yaml:\d+/);
    dir.remove();
  });

  it('fails clearly when an explicitly named config file does not exist', () => {
    expect(() => loadConfig({ env: { CATAPULT_CONFIG: 'nope.yaml' }, cwd: tmp.dir })).toThrow(/does not exist \(from CATAPULT_CONFIG\)/);
  });
});

describe('the README configuration table', () => {
  it('lists every setting with its environment variable and default', async () => {
    const { readFileSync } = await import('node:fs');
    const { configTableMarkdown } = await import('./index.js');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('<!-- config-table:start -->');
    const end = readme.indexOf('<!-- config-table:end -->');
    expect(start, 'README.md has the config-table markers').toBeGreaterThan(0);
    expect(readme.slice(start + '<!-- config-table:start -->'.length, end).trim()).toBe(configTableMarkdown());
  });
});
