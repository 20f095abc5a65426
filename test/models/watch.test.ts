import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, appendFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderWatcher } from '../../src/models/index.js';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { modelFixtures } from '../helpers/modelFixtures.js';
import { tempDir } from '../helpers/services.js';

describe('a watched folder', () => {
  let t: TestControlPlane;
  let fx = '';
  const tmp = tempDir();
  const watched = join(tmp.dir, 'watched');
  const manual = join(tmp.dir, 'manual');

  beforeAll(async () => {
    fx = modelFixtures().dir;
    mkdirSync(watched);
    mkdirSync(manual);
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_MODEL_WATCH_DIRS: watched, CATAPULT_MODEL_WATCH_STABLE_MS: '300' } });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    tmp.remove();
  });

  const models = async () => (await t.cp.models.list()).filter((m) => m.labels['catapult.watch'] === 'folder');

  it('registers a model dropped into the folder, analyses and scans it', async () => {
    copyFileSync(join(fx, 'benign/tiny.gguf'), join(watched, 'tiny.gguf'));
    const m = await until('the watched model is scanned', async () => (await models()).find((x) => x.state === 'scanned'));
    expect(m).toMatchObject({ name: 'tiny', format: 'gguf', parameterCount: 144 });
  });

  it('takes a half-copied file only once it is stable, once per content, and reports a symlink out of the folder', async () => {
    let now = 0;
    const w = new FolderWatcher(
      manual,
      { findByHash: (h) => t.cp.models.findByHash(h), registerWatched: (input) => t.cp.models.register({ ...input, labels: { 'catapult.watch': 'manual' } }, undefined, { wait: false }) },
      t.cp.events,
      { stableMs: 1000, pollMs: 100 },
      () => now,
    );
    const bytes = readFileSync(join(fx, 'benign/model.onnx'));
    writeFileSync(join(manual, 'half.onnx'), bytes.subarray(0, 40));
    await w.poll();
    now += 2000;
    appendFileSync(join(manual, 'half.onnx'), bytes.subarray(40)); // still being copied: the signature changed
    await w.poll();
    const manualModels = async () => (await t.cp.models.list()).filter((m) => m.labels['catapult.watch'] === 'manual');
    expect(await manualModels()).toEqual([]);
    now += 2000;
    await w.poll();
    expect((await manualModels()).map((m) => m.name)).toEqual(['half']);

    // The same content under another name, and a Hugging Face folder copied in: the copy is not a second model.
    copyFileSync(join(fx, 'benign/model.onnx'), join(manual, 'again.onnx'));
    cpSync(join(fx, 'hf-llama'), join(manual, 'llama'), { recursive: true });
    symlinkSync('/etc', join(manual, 'escape'));
    await w.poll();
    now += 2000;
    await w.poll();
    expect((await manualModels()).map((m) => m.name).sort()).toEqual(['half', 'llama']);
    const rejected = await t.cp.events.list(0, 500, ['model.watch_rejected']);
    expect(rejected.map((e) => e.data)).toContainEqual({ path: join(manual, 'escape'), message: expect.stringContaining('symbolic link leads out of the watched folder (/etc)') });
    const llama = await until('the folder is analysed', async () => (await manualModels()).find((m) => m.name === 'llama' && m.state === 'scanned'));
    expect(llama.parameterCount).toBe(5712);
  });
});
