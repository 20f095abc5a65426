import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { SecretBox, decodeSecretKey, loadSecretBox, redact, redactHeaders, redactRecipe, redactRecipeText } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'catapult-secrets-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('redact', () => {
  it('keeps the scheme and at most a third of the credential, fully masking short ones', () => {
    expect(redact('Bearer sk-abcdefghijklmnop765')).toBe('Bearer sk-a…765');
    expect(redact('Basic dXNlcjpwYXNzd29yZA==')).toBe('Basic dXN…A==');
    expect(redact('short')).toBe('…');
    expect(redact('Bearer abc')).toBe('Bearer …');
    for (const secret of ['0123456789ab', 'sk-0123456789abcdefghijklmnopqrstuvwxyz']) {
      const shown = redact(secret).replace('…', '');
      expect(shown.length).toBeLessThanOrEqual(Math.floor(secret.length / 3));
    }
  });

  it('redacts every header not on the list of plain ones', () => {
    expect(redactHeaders({ Authorization: 'Bearer sk-abcdefghijklmnop765', 'Content-Type': 'application/json', 'x-my-auth': 'abcdefghijklmnopqr' })).toEqual({
      Authorization: 'Bearer sk-a…765',
      'Content-Type': 'application/json',
      'x-my-auth': 'abc…pqr',
    });
  });

  it('redacts recipe headers in objects and in YAML text, keeping every line where it was', () => {
    const recipe = { name: 'x', target: { url: 'http://a', headers: { authorization: 'Bearer sk-abcdefghijklmnop765' } }, workload: { api: 'http', headers: { 'x-api-key': 'key-0123456789abcdef' } } };
    expect(redactRecipe(recipe)).toEqual({ ...recipe, target: { url: 'http://a', headers: { authorization: 'Bearer sk-a…765' } }, workload: { api: 'http', headers: { 'x-api-key': 'key…def' } } });
    const text = [
      '# a recipe',
      'name: x',
      'target:',
      '  url: http://a:1',
      '  headers:',
      '    authorization: Bearer sk-abcdefghijklmnop765   # keep me',
      "    x-block: |",
      '      secret-secret-secret',
      '      more-secret-lines',
      '    accept: application/json',
      'workload: {api: http, headers: {x-api-key: key-0123456789abcdef}}',
      'stop: {requests: 1}',
      '',
    ].join('\n');
    const out = redactRecipeText(text);
    expect(out.split('\n')).toHaveLength(text.split('\n').length);
    for (const secret of ['sk-abcdefghijklmnop765', 'secret-secret-secret', 'more-secret-lines', 'key-0123456789abcdef']) expect(out).not.toContain(secret);
    expect(out).toContain('# keep me');
    expect(out.split('\n')[11]).toBe('stop: {requests: 1}');
    const parsed = parseDocument(out).toJS() as { target: { headers: Record<string, string> } };
    expect(parsed.target.headers).toMatchObject({ authorization: 'Bearer sk-a…765', accept: 'application/json' });
    expect(redactRecipeText('{"target": {"headers": {"Authorization": "Bearer sk-abcdefghijklmnop765"}}}')).toBe('{"target": {"headers": {"Authorization": "Bearer sk-a…765"}}}');
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(Buffer.alloc(32, 7), { kind: 'setting' });

  it('seals to an opaque, versioned envelope and opens it again', () => {
    const sealed = box.seal('Bearer sk-abcdefghijklmnop765');
    expect(sealed).toMatch(/^enc:v1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('sk-');
    expect(box.seal('same')).not.toBe(box.seal('same'));
    expect(box.open(sealed)).toBe('Bearer sk-abcdefghijklmnop765');
    expect(box.openJson(box.sealJson({ a: 'b' }), {})).toEqual({ a: 'b' });
  });

  it('reads values stored in clear by older versions as they are', () => {
    expect(box.open('Bearer legacy')).toBe('Bearer legacy');
    expect(box.openJson('{"authorization":"Bearer legacy"}', {})).toEqual({ authorization: 'Bearer legacy' });
  });

  it('refuses another key or an altered value with an error that names the setting', () => {
    const sealed = box.seal('secret');
    const other = new SecretBox(Buffer.alloc(32, 8), { kind: 'file', file: '/data/secret.key' });
    expect(() => other.open(sealed)).toThrow(/CATAPULT_SECRET_KEY/);
    try {
      other.open(sealed);
    } catch (err) {
      expect((err as { code: string }).code).toBe('CATAPULT_SECRET_KEY_MISMATCH');
      expect((err as Error).message).toContain('/data/secret.key');
    }
    const parts = sealed.split(':');
    parts[6] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join(':'))).toThrow(/secretKey \(CATAPULT_SECRET_KEY\)/);
  });

  it('creates a 0600 key file in a new 0700 data dir on first start and reuses it', () => {
    const dataDir = join(tmp, 'data');
    const first = loadSecretBox({ secretKey: '', dataDir });
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(decodeSecretKey(readFileSync(join(dataDir, 'secret.key'), 'utf8'))).not.toBeNull();
    const again = loadSecretBox({ secretKey: '', dataDir });
    expect(again.keyId).toBe(first.keyId);
    expect(again.open(first.seal('x'))).toBe('x');
  });

  it('uses the configured key, so servers sharing a database agree', () => {
    const key = SecretBox.generateKey();
    const a = loadSecretBox({ secretKey: key, dataDir: join(tmp, 'a') });
    const b = loadSecretBox({ secretKey: key, dataDir: join(tmp, 'b') });
    expect(b.open(a.seal('shared'))).toBe('shared');
    expect(() => loadSecretBox({ secretKey: 'dG9vIHNob3J0', dataDir: tmp })).toThrow(/32 bytes/);
  });
});
