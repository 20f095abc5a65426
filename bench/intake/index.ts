/**
 * Model intake benchmark.
 * - analyse_header_ms: analysing sparse multi-GB safetensors files (1 GiB and 8 GiB, 2,000 tensors)
 *   from their headers; the goal is under 100 ms, whatever the file size.
 * - scan_vs_cat: the scanner's throughput on a pickle-based checkpoint (512 MiB of tensors pickled in
 *   band, as numpy/joblib/legacy torch.save write them) relative to `cat FILE > /dev/null` on the
 *   same file (warm page cache for both); the goal is at least 0.5x.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeModel, scanModel } from '../../src/models/index.js';
import { goal, median, report } from '../common.js';

const dir = mkdtempSync(join(tmpdir(), 'catapult-bench-intake-'));

function sparseSafetensors(path: string, totalBytes: number, tensors: number): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const per = Math.floor(totalBytes / tensors / 2) * 2;
  for (let i = 0; i < tensors; i++) header[`model.layers.${i}.weight`] = { dtype: 'F16', shape: [per / 2], data_offsets: [i * per, (i + 1) * per] };
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = openSync(path, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, json);
  ftruncateSync(fd, 8 + json.length + per * tensors);
  closeSync(fd);
}

function bigPickle(path: string, chunks: number, chunkBytes: number): void {
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.from([0x80, 0x04, 0x7d, 0x28])); // PROTO 4, EMPTY_DICT, MARK
  const payload = Buffer.alloc(chunkBytes, 7);
  for (let i = 0; i < chunks; i++) {
    const key = Buffer.from(`layer.${i}.weight`);
    const head = Buffer.alloc(2 + key.length + 9);
    head[0] = 0x8c;
    head[1] = key.length;
    key.copy(head, 2);
    head[2 + key.length] = 0x8e; // BINBYTES8
    head.writeBigUInt64LE(BigInt(chunkBytes), 3 + key.length);
    writeSync(fd, head);
    writeSync(fd, payload);
  }
  writeSync(fd, Buffer.from([0x75, 0x2e])); // SETITEMS, STOP
  closeSync(fd);
}

async function timeMs(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const sizes = [2 ** 30, 8 * 2 ** 30];
  const analyse: Record<string, number> = {};
  for (const size of sizes) {
    const p = join(dir, `sparse-${size / 2 ** 30}g.safetensors`);
    sparseSafetensors(p, size, 2000);
    const runs: number[] = [];
    for (let i = 0; i < 7; i++) runs.push(await timeMs(() => analyzeModel(p)));
    const d = await analyzeModel(p);
    if (d.tensors?.count !== 2000) throw new Error('the analyzer did not list every tensor');
    analyse[`${size / 2 ** 30}GiB`] = median(runs);
    rmSync(p);
  }

  const pkl = join(dir, 'checkpoint.pkl');
  bigPickle(pkl, 32, 16 * 2 ** 20);
  const bytes = 32 * 16 * 2 ** 20;
  execFileSync('sh', ['-c', `cat '${pkl}' > /dev/null`]); // warm the page cache
  const catRuns: number[] = [];
  const scanRuns: number[] = [];
  for (let i = 0; i < 5; i++) {
    catRuns.push(await timeMs(() => execFileSync('sh', ['-c', `cat '${pkl}' > /dev/null`])));
    scanRuns.push(
      await timeMs(async () => {
        const r = await scanModel(pkl);
        if (r.verdict !== 'safe' || r.picklesScanned !== 1) throw new Error(`unexpected scan: ${JSON.stringify(r)}`);
      }),
    );
  }
  const catMs = median(catRuns);
  const scanMs = median(scanRuns);
  rmSync(dir, { recursive: true, force: true });
  const worst = Math.max(...Object.values(analyse));
  report({
    bench: 'intake',
    analyseHeaderMs: analyse,
    scan: { bytes, scanMs, catMs, scanMBps: bytes / 2 ** 20 / (scanMs / 1000), catMBps: bytes / 2 ** 20 / (catMs / 1000) },
    anchor: '`cat FILE > /dev/null` on the same file, warm page cache',
    goals: {
      analyse_header_ms: goal(worst, 100, 'max', 'ms (median of 7, worst of 1 GiB and 8 GiB)'),
      scan_vs_cat: goal(catMs / scanMs, 0.5, 'min', 'x cat throughput'),
    },
  });
}

await main();
