/**
 * Seed 000's evaluation flow end to end: speech synthesised with espeak-ng from known sentences,
 * transcribed by pocketsphinx served through a `custom` runtime deployment, evaluated through
 * `POST /api/v1/benchmarks/async`; the stored WER is checked against an independent computation
 * (Python's own edit distance) over the transcripts the run recorded.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Binary, Field, Struct, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent, ProcessExecutor } from '../../src/agent/index.js';
import { normalizeEnglish } from '../../src/bench/index.js';
import { inheritedEnvironment } from '../../src/config/index.js';
import { type Gateway, inProcessSource, startGateway } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/observability/index.js';
import { until } from '../cluster/processes.js';
import { ROOT } from '../helpers/cli.js';
import { type TestControlPlane, startTestControlPlane } from '../helpers/controlPlane.js';
import { tempDir } from '../helpers/services.js';
import { describeWithSpeech, synthesizeCorpus } from '../helpers/speech.js';

type Json = any;

const SERVER = join(ROOT, 'examples', 'asr', 'pocketsphinx-server.mjs');
const SENTENCES = [
  { id: 'fox', text: 'The quick brown fox jumps over the lazy dog.' },
  { id: 'stella', text: 'Please call Stella.' },
  { id: 'numbers', text: 'one two three four five six' },
  { id: 'weather', text: 'It is raining in the city today' },
  { id: 'coffee', text: 'I would like a cup of coffee' },
];

/** Corpus WER by a separate implementation: Python, summed word edit distances over summed reference words. */
function pythonWer(pairs: { reference: string; hypothesis: string }[]): number {
  const script = `
import json, sys
pairs = json.load(sys.stdin)
def dist(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[len(b)]
edits = sum(dist(p["reference"].split(), p["hypothesis"].split()) for p in pairs)
words = sum(len(p["reference"].split()) for p in pairs)
print(repr(edits / words))
`;
  return Number(execFileSync('python3', ['-c', script], { input: JSON.stringify(pairs) }).toString().trim());
}

describeWithSpeech('ASR evaluation through POST /api/v1/benchmarks/async', ['espeak-ng', 'sox', 'pocketsphinx'], () => {
  let t: TestControlPlane;
  let gw: Gateway;
  let agent: Agent;
  let executor: ProcessExecutor;
  const dir = tempDir();
  let manifest = '';

  const get = async (path: string) => (await (await t.call('GET', path)).json()) as Json;
  const ended = (id: string) =>
    until(`evaluation ${id} to end`, async () => {
      const b = await get(`/api/v1/benchmarks/${id}`);
      return ['completed', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    }, 90_000);
  const deploy = async (name: string, extra: string[]) => {
    const res = await t.call('POST', '/api/v1/deployments', {
      body: { name, runtime: 'custom', options: { command: ['node', SERVER, '--port', '{port}', '--host', '{host}', '--concurrency', '2', ...extra], protocol: 'openai', healthPath: '/health', readinessTimeoutMs: 30_000 } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return until(`${name} active`, async () => {
      const d = await get(`/api/v1/deployments/${name}`);
      return d.state === 'active' ? d : undefined;
    }, 60_000);
  };

  beforeAll(async () => {
    ({ manifest } = await synthesizeCorpus(join(dir.dir, 'corpus'), SENTENCES));
    writeFileSync(join(dir.dir, 'sentences.txt'), `${SENTENCES.map((s) => s.text).join('\n')}\n`);
    t = await startTestControlPlane('sqlite', { env: { CATAPULT_HEARTBEAT_INTERVAL_MS: '200' } });
    gw = await startGateway({ host: '127.0.0.1', port: 0, source: inProcessSource({ events: t.cp.events, registry: t.cp.routeRegistry, keys: t.cp.keys }), log: silentLogger() });
    await gw.ready();
    t.cp.deployments.setGatewayUrl(gw.url);
    executor = new ProcessExecutor({ dir: join(dir.dir, 'agent', 'replicas'), bindHost: '127.0.0.1', advertiseHost: '127.0.0.1', baseEnv: inheritedEnvironment() });
    const { secret } = await t.cp.cluster.createJoinToken({ name: 'asr' }, null);
    agent = new Agent({ server: t.url, joinToken: secret, name: 'asr-node', dataDir: join(dir.dir, 'agent'), capacity: { cpuCores: 8, memoryBytes: 16 * 2 ** 30 }, executor, log: silentLogger(), longPollSeconds: 1 });
    await agent.start();
  });
  afterAll(async () => {
    await agent?.stop();
    await executor?.close({ stopReplicas: true });
    await gw?.close();
    await t?.close();
    dir.remove();
  });

  it('evaluates a free-form recogniser deployed with the custom runtime, through the gateway; the stored WER is that of its transcripts', async () => {
    await deploy('asr-sphinx', []);
    const res = await t.call('POST', '/api/v1/benchmarks/async', { body: { deployment: 'asr-sphinx', asr_eval_dataset: manifest, evaluation_only: true } });
    expect(res.status).toBe(202);
    const created = (await res.json()) as Json;
    expect(created).toMatchObject({ status: 'pending', wer: null, cer: null, api: 'asr-transcriptions' });
    const done = await ended(created.id);
    expect(done.status, done.reason).toBe('completed');
    expect(typeof done.wer).toBe('number');
    expect(typeof done.cer).toBe('number');

    const records = (await get(`/api/v1/benchmarks/${created.id}/records`)).items as Json[];
    expect(records.map((r) => r.item).sort()).toEqual(SENTENCES.map((s) => s.id).sort());
    expect(records.every((r) => r.error === null && typeof r.text === 'string')).toBe(true);
    const pairs = records.map((r) => ({ reference: normalizeEnglish(r.reference), hypothesis: normalizeEnglish(r.text) }));
    expect(done.wer).toBeCloseTo(pythonWer(pairs), 12);
    // Free-form pocketsphinx on synthetic speech makes real errors.
    expect(done.wer).toBeGreaterThan(0.2);

    const results = await get(`/api/v1/benchmarks/${created.id}/results`);
    expect(results.evaluation).toMatchObject({ normalizer: 'catapult-en/1', scored: 5, failed: 0 });
    expect(results.evaluation.words.referenceLength).toBe(pairs.reduce((a, p) => a + p.reference.split(' ').length, 0));
    expect(results.evaluation.rtfx).toBeGreaterThan(0);
    expect(results.evaluation.worst.length).toBeGreaterThan(0);
    expect(results.evaluation.worst[0].ops.some((o: Json) => o.op !== 'equal')).toBe(true);
  });

  it('evaluates a registered production endpoint, a bare endpoint URL and a Hugging Face .arrow dataset: with a grammar of the sentences the WER is 0', async () => {
    const d = await deploy('asr-grammar', ['--sentences', join(dir.dir, 'sentences.txt')]);
    const url = d.replicas.items[0].url as string;
    const ep = (await (await t.call('POST', '/api/v1/endpoints', { body: { name: 'sphinx-prod', url, protocol: 'openai' } })).json()) as Json;
    // The same corpus as a Hugging Face datasets .arrow file (Arrow IPC stream, audio as {bytes, path}), like seed 000's common_voice.arrow.
    const arrow = join(dir.dir, 'corpus.arrow');
    const audioType = new Struct([new Field('bytes', new Binary(), true), new Field('path', new Utf8(), true)]);
    const table = new Table({
      path: vectorFromArray(SENTENCES.map((x) => `${x.id}.wav`), new Utf8()),
      audio: vectorFromArray(SENTENCES.map((x) => ({ bytes: new Uint8Array(readFileSync(join(dir.dir, 'corpus', `${x.id}.wav`))), path: `${x.id}.wav` })), audioType),
      sentence: vectorFromArray(SENTENCES.map((x) => x.text), new Utf8()),
    });
    writeFileSync(arrow, tableToIPC(table, 'stream'));
    for (const body of [{ production_endpoint_id: ep.id, asr_eval_dataset: manifest }, { endpoint_url: url, asr_eval_dataset: manifest }, { endpoint_url: url, asr_eval_dataset: arrow }]) {
      const created = (await (await t.call('POST', '/api/v1/benchmarks/async', { body: { ...body, evaluation_only: true } })).json()) as Json;
      const done = await ended(created.id);
      expect(done.status, done.reason).toBe('completed');
      expect(done.wer).toBe(0);
      expect(done.cer).toBe(0);
      expect((await get(`/api/v1/benchmarks/${created.id}/results`)).evaluation.scored).toBe(SENTENCES.length);
    }
  });
});
