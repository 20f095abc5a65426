import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../runtimes/index.js';
import { tempDir } from '../../test/helpers/services.js';
import { prepareItems } from './dataset.js';
import { LoadEngine } from './engine.js';
import { planStages, shardStages } from './plan.js';
import { RecordWriter, readAllRecords } from './records.js';
import { parseRecipe } from './recipe.js';
import { mergeAggregates, stageResults, summarize } from './summary.js';
import { countTokens, loadTokenizer } from './tokens.js';

const TTFT = 60;
const ITL = 8;
const TOKENS = 20;

function recipe(load: string, extra = ''): ReturnType<typeof parseRecipe> {
  return parseRecipe(`name: t
target: { url: "http://127.0.0.1:1" }
workload:
  api: openai-chat
  model: sim
  dataset: { type: synthetic, inputTokens: 40, outputTokens: ${TOKENS}, count: 30 }
${load}
${extra}`);
}

describe('the load engine against the simulator', () => {
  let sim: RunningSimulator;
  const dir = tempDir();
  beforeAll(async () => {
    sim = await startSimulator({ modelName: 'sim', ttftMs: TTFT, itlMs: ITL, maxConcurrency: 512 });
  });
  afterAll(async () => {
    await sim?.close();
    dir.remove();
  });

  async function run(r: ReturnType<typeof parseRecipe>, { shard = 0, shards = 1, file, url = sim.url }: { shard?: number; shards?: number; file?: string; url?: string } = {}) {
    const items = await prepareItems(r, { model: 'sim', cwd: dir.dir });
    const stages = planStages(r);
    const writer = file ? new RecordWriter(file) : undefined;
    const engine = new LoadEngine({
      api: r.workload.api,
      stream: r.workload.stream,
      timeoutMs: r.timeout,
      slo: r.slo,
      shard,
      stages: shardStages(stages, shard, shards, r.seed),
      items,
      target: { baseUrl: url, headers: {} },
      ...(writer ? { records: writer } : {}),
    });
    const result = await engine.run();
    await writer?.close();
    return { result, stages };
  }

  it('measures the configured time to first token and inter-token latency, with tokens from usage', async () => {
    const r = recipe('load: { type: closed, concurrency: 8 }\nstop: { requests: 48 }', 'slo: { ttftMs: 500 }');
    const { result } = await run(r);
    const s = stageResults(result.aggregates[0]!, r.slo);
    expect(s.requests).toMatchObject({ sent: 48, ok: 48, errors: 0 });
    expect(s.latency.ttft.p50!).toBeGreaterThan(TTFT - 1);
    expect(s.latency.ttft.p50!).toBeLessThan(TTFT + 4);
    expect(s.latency.itl.p50!).toBeGreaterThan(ITL - 1);
    expect(s.latency.itl.p50!).toBeLessThan(ITL + 1.5);
    expect(s.tokens.output).toBe(48 * TOKENS);
    expect(s.tokens.outputSources).toEqual({ usage: 48 });
    // E2E = TTFT + (n-1) ITL for every request.
    expect(s.latency.e2e.p50!).toBeGreaterThan(TTFT + (TOKENS - 1) * ITL - 2);
    expect(s.goodput?.share).toBe(1);
  });

  it('counts tokens with its tokenizer when the server sends no usage, and says so', async () => {
    // A server that streams three chunks and never reports usage.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of ['Hello', ' there,', ' general Kenobi']) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = recipe('load: { type: closed, concurrency: 2 }\nstop: { requests: 4 }');
      const { result } = await run(r, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const s = stageResults(result.aggregates[0]!, {});
      expect(s.requests.ok).toBe(4);
      await loadTokenizer();
      expect(s.tokens.output).toBe(4 * countTokens('Hello there, general Kenobi'));
      expect(s.tokens.outputSources).toEqual({ tokenizer: 4 });
      // Input tokens come from our count of the prompt: 40 by construction.
      expect(s.tokens.input).toBe(4 * 40);
      expect(s.tokens.inputSources).toEqual({ tokenizer: 4 });
      // Three content chunks: two inter-chunk gaps per request.
      expect(s.latency.itl.count).toBe(8);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('measures time to first token, inter-token latency and output tokens from a server that frames its stream with CRLF', async () => {
    // Python SSE libraries frame events with CRLF; this one also sends a keepalive comment, splits
    // one event's JSON over two data lines, cuts a CRLF across two writes, and ends without a blank line.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': ping\r\n\r\n');
        const pieces = ['Hello', ' there,', ' general Kenobi'];
        let k = 0;
        const next = (): void => {
          if (k < pieces.length) {
            const json = JSON.stringify({ choices: [{ index: 0, delta: { content: pieces[k++] } }] });
            res.write(`data: ${json.slice(0, 10)}\r\ndata: ${json.slice(10)}\r`);
            setTimeout(() => {
              res.write('\n\r\n');
              setTimeout(next, 15);
            }, 5);
            return;
          }
          res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 40, completion_tokens: 7 } })}\r\n\r\n`);
          res.end('data: [DONE]\r\n');
        };
        setTimeout(next, 30);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = recipe('load: { type: closed, concurrency: 2 }\nstop: { requests: 4 }');
      const { result } = await run(r, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const s = stageResults(result.aggregates[0]!, {});
      expect(s.requests).toMatchObject({ ok: 4, errors: 0 });
      expect(s.tokens.output).toBe(4 * 7);
      expect(s.tokens.outputSources).toEqual({ usage: 4 });
      expect(s.latency.ttft.count).toBe(4);
      expect(s.latency.ttft.p50!).toBeGreaterThanOrEqual(30);
      // Three content events: two gaps of at least 20 ms each per request.
      expect(s.latency.itl.count).toBe(8);
      expect(s.latency.itl.p50!).toBeGreaterThanOrEqual(19);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports no time to first token for a non-streamed answer, only its end-to-end latency', async () => {
    const r = recipe('load: { type: closed, concurrency: 2 }\nstop: { requests: 4 }');
    r.workload.stream = false;
    const { result } = await run(r);
    const s = stageResults(result.aggregates[0]!, r.slo);
    expect(s.requests.ok).toBe(4);
    expect(s.tokens.outputSources).toEqual({ usage: 4 });
    expect(s.latency.ttft.count).toBe(0);
    expect(s.latency.ttft.p50).toBeNull();
    expect(s.latency.e2e.count).toBe(4);
  });

  it('sends an open-loop schedule from its intended times and reports the lag behind it', async () => {
    const r = recipe('load: { type: constant, rate: 50 }\nstop: { duration: 1s }');
    const file = join(dir.dir, 'open.jsonl');
    const { result } = await run(r, { file });
    const s = stageResults(result.aggregates[0]!, r.slo);
    expect(s.requests.sent).toBe(50);
    const recs = (await readAllRecords(file)).sort((a, b) => a.i - b.i);
    // Intended send times are the schedule itself (every 20 ms), whatever the client managed.
    recs.forEach((x, k) => expect(x.intended - recs[0]!.intended).toBeCloseTo(k * 20, 2));
    expect(recs.every((x) => x.sent >= x.intended)).toBe(true);
    // Latency counts from the intended time, so it includes any lag.
    expect(s.latency.e2e.p50!).toBeGreaterThanOrEqual(s.latency.e2eFromSend.p50!);
    const sent = recs.map((x) => x.sent);
    expect(s.achievedRate).toBeCloseTo(49 / ((Math.max(...sent) - Math.min(...sent)) / 1000), 2);
    expect(s.scheduleLagMs.count).toBe(50);
  });

  it('splits a run between clients so the union of their records is the one-client run', async () => {
    const r = recipe('load: { type: poisson, rate: 60 }\nstop: { duration: 1s }');
    const f0 = join(dir.dir, 's0.jsonl');
    const f1 = join(dir.dir, 's1.jsonl');
    const [a, b] = await Promise.all([run(r, { shard: 0, shards: 2, file: f0 }), run(r, { shard: 1, shards: 2, file: f1 })]);
    const recs = [...(await readAllRecords(f0)), ...(await readAllRecords(f1))];
    const indices = recs.map((x) => x.i).sort((x, y) => x - y);
    expect(indices).toEqual(indices.map((_, k) => k));
    const merged = mergeAggregates([a.result.aggregates, b.result.aggregates]);
    const union = summarize(recs, a.stages, r.slo);
    expect(stageResults(merged[0]!, r.slo)).toEqual(stageResults(union[0]!, r.slo));
  });

  it('counts connection failures by kind and still completes', async () => {
    const r = recipe('load: { type: closed, concurrency: 2 }\nstop: { requests: 6 }');
    const { result } = await run(r, { url: 'http://127.0.0.1:9' });
    const s = stageResults(result.aggregates[0]!, {});
    expect(s.requests).toMatchObject({ sent: 6, ok: 0, errors: 6 });
    expect(s.errorsByKind).toEqual({ connect: 6 });
  });
});
