/**
 * Seed 000's `POST /api/v1/benchmarks/async` options against a real HTTP transcription server that
 * takes seed 000's executor body, `{ "audio": "<base64>", "model": "…" }`, and refuses multipart.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../cluster/processes.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';

type Json = any;

/** A PCM WAV of `seconds` of silence at 8 kHz, 16-bit mono, with one byte that tells it apart. */
function wav(seconds: number, tag: number): Buffer {
  const data = Buffer.alloc(Math.round(seconds * 8000) * 2);
  data[0] = tag;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const UTTERANCES = [
  { id: 'a', text: 'please call stella' },
  { id: 'b', text: 'one two three' },
  { id: 'c', text: 'it is raining today' },
];

describe('seed 000 evaluations (POST /api/v1/benchmarks/async)', () => {
  let t: TestControlPlane;
  let server: Server;
  let url = '';
  const dir = tempDir();
  const manifest = join(dir.dir, 'manifest.jsonl');
  const transcripts = new Map<string, string>();
  let requests = 0;

  beforeAll(async () => {
    const lines: string[] = [];
    UTTERANCES.forEach((u, k) => {
      const audio = wav(0.5, k + 1);
      writeFileSync(join(dir.dir, `${u.id}.wav`), audio);
      transcripts.set(audio.toString('base64'), u.text);
      lines.push(JSON.stringify({ audio: `${u.id}.wav`, text: u.text }));
    });
    writeFileSync(manifest, `${lines.join('\n')}\n`);
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url !== '/v1/audio/transcriptions' || !(req.headers['content-type'] ?? '').startsWith('application/json')) {
          res.writeHead(415, { 'content-type': 'application/json' }).end('{"error":"send {audio: base64, model} as JSON"}');
          return;
        }
        requests++;
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { audio: string; model: string };
        const text = transcripts.get(body.audio);
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: text ?? 'unknown audio' })), 20);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestControlPlane('sqlite');
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => server?.close(resolve));
    dir.remove();
  });

  const post = async (body: unknown) => {
    const res = await t.call('POST', '/api/v1/benchmarks/async', { body });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (path: string) => (await (await t.call('GET', path)).json()) as Json;
  const ended = (id: string) =>
    until(`benchmark ${id} to end`, async () => {
      const b = await get(`/api/v1/benchmarks/${id}`);
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, 30_000);

  it('sends the audio as base64 JSON when asked, and evaluation_only runs each utterance once', async () => {
    const before = requests;
    const { status, body } = await post({ endpoint_url: url, asr_eval_dataset: manifest, model: 'whisper', audio_encoding: 'json-base64', evaluation_only: true });
    expect(status, JSON.stringify(body)).toBe(202);
    const done = await ended(body.id);
    expect(done.state, done.reason).toBe('completed');
    expect(done.wer).toBe(0);
    expect(requests - before).toBe(UTTERANCES.length);
    const results = await get(`/api/v1/benchmarks/${body.id}/results`);
    expect(results.stages[0].requests.sent).toBe(UTTERANCES.length);
  });

  it('with evaluation_only false also runs a load stage: passes over the dataset, with latency and RTFx', async () => {
    const before = requests;
    const { body } = await post({ endpoint_url: url, asr_eval_dataset: manifest, model: 'whisper', audio_encoding: 'json-base64', evaluation_only: false, load_epochs: 4, concurrency: 2 });
    const done = await ended(body.id);
    expect(done.state, done.reason).toBe('completed');
    expect(requests - before).toBe(4 * UTTERANCES.length);
    expect(done.wer).toBe(0);
    const results = await get(`/api/v1/benchmarks/${body.id}/results`);
    const stage = results.stages[0];
    expect(stage.requests.ok).toBe(4 * UTTERANCES.length);
    expect(stage.latency.e2e.p50).toBeGreaterThanOrEqual(20);
    // No stream, no time to first token.
    expect(stage.latency.ttft.count).toBe(0);
    expect(results.evaluation.rtfx).toBeGreaterThan(0);
    expect(results.evaluation.audioSeconds).toBeCloseTo(4 * 1.5, 3);
  });

  it('without the option, sends multipart, which this server refuses: the run fails and says why', async () => {
    const { body } = await post({ endpoint_url: url, asr_eval_dataset: manifest, model: 'whisper' });
    const done = await ended(body.id);
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(/^every one of the 3 requests failed: http_4xx 3 \(HTTP 415: .*send {audio: base64, model} as JSON/);
  });

  it('refuses a numeric production_endpoint_id, saying what ids look like', async () => {
    const { status, body } = await post({ production_endpoint_id: 367, asr_eval_dataset: manifest, evaluation_only: true });
    expect(status).toBe(400);
    expect(body.code).toBe('CATAPULT_VALIDATION_FAILED');
    expect(body.detail).toMatch(/production_endpoint_id 367 is a number; endpoint ids look like "ep_…"/);
  });
});
