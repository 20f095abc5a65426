import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { modelFixtures } from '../helpers/modelFixtures.js';
import { tempDir } from '../helpers/services.js';

describe('models from an S3-compatible store (s3rver)', () => {
  let t: TestControlPlane;
  let server: S3rver;
  let endpoint = '';
  const tmp = tempDir();
  const credentials = () => ({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', endpoint, region: 'us-east-1' });

  beforeAll(async () => {
    const fx = modelFixtures().dir;
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(tmp.dir, 's3'), configureBuckets: [{ name: 'models', configs: [] }] });
    const addr = (await server.run()) as unknown as { port: number };
    endpoint = `http://127.0.0.1:${addr.port}`;
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    for (const f of readdirSync(join(fx, 'hf-llama'))) {
      await s3.send(new PutObjectCommand({ Bucket: 'models', Key: `llama/${f}`, Body: readFileSync(join(fx, 'hf-llama', f)) }));
    }
    await s3.send(new PutObjectCommand({ Bucket: 'models', Key: 'single/model.onnx', Body: readFileSync(join(fx, 'benign/model.onnx')) }));
    s3.destroy();
    t = await startTestControlPlane('sqlite');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await server?.close();
    tmp.remove();
  });

  it('registers a Hugging Face folder from s3://bucket/prefix, downloads and analyses it, and never shows the credentials', async () => {
    const res = await t.call('POST', '/api/v1/models', { body: { name: 's3-llama', source: 's3://models/llama', credentials: credentials() } });
    const text = await res.text();
    expect(res.status, text).toBe(201);
    expect(text).not.toContain('S3RVER');
    const m = JSON.parse(text);
    expect(m).toMatchObject({ state: 'scanned', format: 'huggingface', parameterCount: 5712, estimate: { kvBytesPerToken: 64 } });
    expect(m.path).toContain(join('artifacts', m.id));
    const list = await (await t.call('GET', '/api/v1/models')).text();
    expect(list).not.toContain('S3RVER');
    const events = await t.cp.events.listForSubjects(['model'], [m.id]);
    expect(events.map((e) => e.type)).toEqual(['model.registered', 'model.analysing', 'model.ingested', 'model.scanned']);
    expect(JSON.stringify(events)).not.toContain('S3RVER');
    const row = (await t.cp.store.db.selectFrom('models' as never).selectAll().where('id' as never, '=', m.id as never).executeTakeFirstOrThrow()) as { source_credentials: string };
    expect(row.source_credentials).toMatch(/^enc:v1:/);
    expect(row.source_credentials).not.toContain('S3RVER');
  });

  it('registers a single object named by its key', async () => {
    const m = await (await t.call('POST', '/api/v1/models', { body: { name: 's3-onnx', source: 's3://models/single/model.onnx', credentials: credentials() } })).json() as any;
    expect(m).toMatchObject({ state: 'scanned', format: 'onnx', parameterCount: 15 });
  });

  it('fails with a clear error when nothing is at the prefix, or the bucket does not exist', async () => {
    const none = await (await t.call('POST', '/api/v1/models', { body: { name: 's3-none', source: 's3://models/nothing-here', credentials: credentials() } })).json() as any;
    expect(none).toMatchObject({ state: 'failed', error: 'download failed: nothing at s3://models/nothing-here' });
    const nob = await (await t.call('POST', '/api/v1/models', { body: { name: 's3-nobucket', source: 's3://absent/x', credentials: credentials() } })).json() as any;
    expect(nob).toMatchObject({ state: 'failed', error: expect.stringContaining('NoSuchBucket') });
  });
});
