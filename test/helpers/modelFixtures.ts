import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface FixtureSample {
  path: string;
  expect: 'safe' | 'unsafe';
  why: string;
}

let made: { dir: string; manifest: FixtureSample[] } | undefined;

/**
 * Writes the test models (real PyTorch, ONNX, safetensors, GGUF files and the malicious corpus) with
 * scripts/models/make-fixtures.py, once per test process. Fails, naming the service script, when
 * Python with torch and onnx is missing.
 */
export function modelFixtures(): { dir: string; manifest: FixtureSample[] } {
  if (made) return made;
  const check = spawnSync('bash', [resolve('scripts/services/python-ml.sh')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`Python with torch and onnx is missing (scripts/services/python-ml.sh): ${check.stderr.trim()}`);
  const dir = mkdtempSync(join(tmpdir(), 'catapult-models-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  execFileSync('/usr/bin/python3', [resolve('scripts/models/make-fixtures.py'), dir], { stdio: 'pipe' });
  made = { dir, manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as FixtureSample[] };
  return made;
}
