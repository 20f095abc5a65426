import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnRuntime } from './testing.js';
import { type RunningSimulator, type SimulatorServerOptions, simulatorRuntime, startSimulator } from './index.js';
import { parseMultipart } from './simulator/multipart.js';
import { Scheduler } from './simulator/scheduler.js';
import { countTokens } from './simulator/text.js';

/** The parsed JSON body; JSON.parse leaves it untyped, which suits assertions on API shapes. */
async function readJson(res: Response) {
  return JSON.parse(await res.text());
}

const started: RunningSimulator[] = [];
async function sim(opts: SimulatorServerOptions = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ ttftMs: 5, itlMs: 1, ...opts });
  started.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await readJson(res) };
}

interface SseEvent {
  at: number;
  data: string;
}

/** Posts a streaming request and collects every SSE event with the time it arrived (ms since the request was sent). */
async function stream(url: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; headers: Headers; events: SseEvent[] }> {
  const sent = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  const events: SseEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const at = performance.now() - sent;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      expect(line.startsWith('data: ')).toBe(true);
      events.push({ at, data: line.slice(6) });
    }
  }
  return { status: res.status, headers: res.headers, events };
}

const chat = (extra: Record<string, unknown> = {}) => ({ model: 'simulator', messages: [{ role: 'user', content: 'Tell me a story, please.' }], ...extra });

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric ${name} not found`);
  return Number(m[1]);
}

describe('the simulator, OpenAI-compatible', () => {
  let s: RunningSimulator;
  beforeAll(async () => {
    s = await sim({ seed: 7 });
  });

  it('lists its model and answers /health', async () => {
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const models = await readJson(await fetch(`${s.url}/v1/models`));
    expect(models).toMatchObject({ object: 'list', data: [{ id: 'simulator', object: 'model', owned_by: 'catapult' }] });
  });

  it('returns a chat completion with exactly max_tokens tokens and matching usage', async () => {
    const { status, json } = await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 12 }));
    expect(status).toBe(200);
    expect(json).toMatchObject({ object: 'chat.completion', model: 'simulator', choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant' } }] });
    expect(json.id).toMatch(/^chatcmpl-/);
    expect(typeof json.created).toBe('number');
    const text: string = json.choices[0].message.content;
    expect(countTokens(text)).toBe(12);
    // "Tell me a story, please." is 7 tokens, plus 3 per message and 3 to prime the reply.
    expect(json.usage).toEqual({ prompt_tokens: 13, completion_tokens: 12, total_tokens: 25 });
  });

  it('streams chat chunks, a finish chunk, a usage chunk when asked, then [DONE]', async () => {
    const { status, headers, events } = await stream(`${s.url}/v1/chat/completions`, chat({ max_tokens: 5, stream: true, stream_options: { include_usage: true } }));
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'simulator')).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const contents = chunks.slice(1, 6).map((c) => c.choices[0].delta.content);
    expect(contents).toHaveLength(5);
    expect(contents.every((t: unknown) => typeof t === 'string' && t.length > 0)).toBe(true);
    expect(chunks[6].choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    expect(chunks[7]).toMatchObject({ choices: [], usage: { prompt_tokens: 13, completion_tokens: 5, total_tokens: 18 } });
    expect(chunks.slice(0, 7).every((c) => c.usage === null)).toBe(true);
  });

  it('serves legacy completions, streamed and not', async () => {
    const { json } = await post(`${s.url}/v1/completions`, { model: 'simulator', prompt: 'Once upon a time', max_tokens: 4 });
    expect(json).toMatchObject({ object: 'text_completion', choices: [{ index: 0, finish_reason: 'length', logprobs: null }], usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 } });
    expect(json.id).toMatch(/^cmpl-/);
    const { events } = await stream(`${s.url}/v1/completions`, { model: 'simulator', prompt: 'Once upon a time', max_tokens: 3, stream: true });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(chunks.map((c) => c.object)).toEqual(['text_completion', 'text_completion', 'text_completion', 'text_completion']);
    expect(countTokens(chunks.slice(0, 3).map((c) => c.choices[0].text).join(''))).toBe(3);
    expect(chunks[3].choices[0]).toMatchObject({ text: '', finish_reason: 'length' });
  });

  it('gives the same text for the same request seed, and stops before max_tokens when the sampled length is shorter', async () => {
    const capped = await sim({ maxTokensPolicy: 'cap', outputTokens: 'fixed:3', seed: 1 });
    const a = await post(`${capped.url}/v1/chat/completions`, chat({ max_tokens: 50, seed: 42 }));
    const b = await post(`${capped.url}/v1/chat/completions`, chat({ max_tokens: 50, seed: 42 }));
    expect(a.json.choices[0].message.content).toBe(b.json.choices[0].message.content);
    expect(a.json.choices[0].finish_reason).toBe('stop');
    expect(a.json.usage.completion_tokens).toBe(3);
    const c = await post(`${capped.url}/v1/chat/completions`, chat({ max_tokens: 2 }));
    expect(c.json.choices[0].finish_reason).toBe('length');
    expect(c.json.usage.completion_tokens).toBe(2);
  });

  it('echoes the prompt in echo mode', async () => {
    const echo = await sim({ mode: 'echo' });
    const { json } = await post(`${echo.url}/v1/completions`, { model: 'simulator', prompt: 'alpha beta gamma', max_tokens: 5 });
    expect(json.choices[0].text).toBe('alpha beta gamma alpha beta');
  });

  it.each([
    [{ messages: [{ role: 'user', content: 'hi' }] }, 400, 'model', 'missing_required_parameter'],
    [chat({ model: 'gpt-4' }), 404, 'model', 'model_not_found'],
    [chat({ messages: [] }), 400, 'messages', 'invalid_type'],
    [chat({ messages: [{ content: 'no role' }] }), 400, 'messages[0]', 'invalid_type'],
    [chat({ max_tokens: 0 }), 400, 'max_tokens', 'invalid_value'],
    [chat({ n: 2 }), 400, 'n', 'invalid_value'],
    [chat({ stream: 'yes' }), 400, 'stream', 'invalid_type'],
  ])('rejects an invalid chat request in the OpenAI error format (%#)', async (body, status, param, code) => {
    const res = await post(`${s.url}/v1/chat/completions`, body);
    expect(res.status).toBe(status);
    expect(res.json.error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect(typeof res.json.error.message).toBe('string');
  });

  it('rejects a body that is not JSON', async () => {
    const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: '{nope' });
    expect(res.status).toBe(400);
    expect((await readJson(res)).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
  });
});

describe('simulator context length', () => {
  it('answers max_tokens beyond the context window with a 400 in OpenAI error format and keeps serving everyone else', async () => {
    // A replica process, as a deployment runs it, with the default context window.
    const replica = await spawnRuntime(simulatorRuntime, { ttftMs: 5, itlMs: 1 });
    try {
      const url = `${replica.url}/v1/chat/completions`;
      const others = Array.from({ length: 5 }, () => post(url, chat({ max_tokens: 20 })));
      const huge = await post(url, chat({ max_tokens: 100_000_000 }));
      expect(huge.status).toBe(400);
      expect(huge.json).toEqual({
        error: {
          message: expect.stringMatching(/maximum context length is 32768 tokens\. However, you requested 100000013 tokens \(13 in the messages, 100000000 in the completion\)/),
          type: 'invalid_request_error',
          param: 'max_tokens',
          code: 'context_length_exceeded',
        },
      });
      const absurd = await post(url, chat({ max_tokens: 1e12 }));
      expect(absurd.status).toBe(400);
      expect(absurd.json.error.code).toBe('context_length_exceeded');
      const streamed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat({ max_tokens: 1e12, stream: true })) });
      expect(streamed.status).toBe(400);
      expect((await readJson(streamed)).error.code).toBe('context_length_exceeded');
      for (const r of await Promise.all(others)) expect(r.status).toBe(200);
      expect((await fetch(`${replica.url}/health`)).status).toBe(200);
    } finally {
      await replica.stop();
    }
  });

  it('takes the context window as an option: prompt + max_tokens up to it is served, one more is refused', async () => {
    const s = await sim({ maxModelLen: 64 });
    const url = `${s.url}/v1/chat/completions`;
    // The prompt is 13 tokens.
    const fits = await post(url, chat({ max_tokens: 51 }));
    expect(fits.status).toBe(200);
    expect(fits.json.usage.total_tokens).toBe(64);
    const over = await post(url, chat({ max_tokens: 52 }));
    expect(over.status).toBe(400);
    expect(over.json.error.message).toContain('maximum context length is 64 tokens');
    const prompt = await post(`${s.url}/v1/completions`, { model: 'simulator', prompt: 'word '.repeat(64) });
    expect(prompt.status).toBe(400);
    expect(prompt.json.error.param).toBe('prompt');
    // Without max_tokens the sampled length stops at the window.
    const sampled = await post(url, chat({ min_tokens: 40 }));
    expect(sampled.status).toBe(200);
    expect(sampled.json.usage.total_tokens).toBeLessThanOrEqual(64);
  });
});

describe('simulator embeddings', () => {
  it('returns deterministic unit vectors, as floats or base64, with usage', async () => {
    const s = await sim({ embeddingDim: 16 });
    const { status, json } = await post(`${s.url}/v1/embeddings`, { model: 'simulator', input: ['hello world', 'hello world', 'other'] });
    expect(status).toBe(200);
    expect(json).toMatchObject({ object: 'list', model: 'simulator', usage: { prompt_tokens: 5, total_tokens: 5 } });
    const [a, b, c] = json.data.map((d: { embedding: number[] }) => d.embedding);
    expect(json.data.map((d: { object: string; index: number }) => [d.object, d.index])).toEqual([['embedding', 0], ['embedding', 1], ['embedding', 2]]);
    expect(a).toHaveLength(16);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5);

    const b64 = await post(`${s.url}/v1/embeddings`, { model: 'simulator', input: 'hello world', encoding_format: 'base64', dimensions: 8 });
    const buf = Buffer.from(b64.json.data[0].embedding, 'base64');
    const v = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    expect(v).toHaveLength(8);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);

    const bad = await post(`${s.url}/v1/embeddings`, { model: 'simulator', input: [{}] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('input');
  });
});

describe('simulator transcriptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'catapult-sim-asr-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses a multipart upload and answers with the sidecar transcript, or the fixed one', async () => {
    writeFileSync(join(dir, 'clip-001.txt'), 'hello from the sidecar\n');
    const s = await sim({ transcript: 'fixed words', transcriptsDir: dir });
    const form = new FormData();
    form.append('model', 'simulator');
    form.append('file', new Blob([Buffer.from('RIFF....WAVEfmt ')], { type: 'audio/wav' }), 'clip-001.wav');
    const res = await fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({ text: 'hello from the sidecar' });

    const other = new FormData();
    other.append('file', new Blob([Buffer.from([1, 2, 3])]), 'unknown.mp3');
    other.append('model', 'simulator');
    other.append('response_format', 'text');
    const res2 = await fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', body: other });
    expect(res2.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res2.text()).toBe('fixed words');
  });

  it('accepts JSON with base64 audio, and rejects a request without a file', async () => {
    const s = await sim({ transcript: 'json route' });
    const ok = await post(`${s.url}/v1/audio/transcriptions`, { model: 'simulator', audio: Buffer.from('abc').toString('base64') });
    expect(ok.json).toEqual({ text: 'json route' });
    const form = new FormData();
    form.append('model', 'simulator');
    const res = await fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect((await readJson(res)).error).toMatchObject({ param: 'file', code: 'missing_required_parameter' });
  });

  it('splits multipart bodies with quoted names, binary data and CRLF inside parts', () => {
    const boundary = 'XyZ';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a \\"b\\".wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      Buffer.from([0, 13, 10, 45, 45, 255]),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const parts = parseMultipart(body, boundary);
    expect(parts.map((p) => p.name)).toEqual(['model', 'file']);
    expect(parts[0]!.data.toString()).toBe('whisper');
    expect(parts[1]).toMatchObject({ filename: 'a "b".wav', contentType: 'audio/wav' });
    expect([...parts[1]!.data]).toEqual([0, 13, 10, 45, 45, 255]);
    expect(() => parseMultipart(Buffer.from('garbage'), boundary)).toThrow(/boundary/);
  });
});

describe('simulator concurrency, queueing and metrics', () => {
  it('runs at most max-concurrency sequences and queues the rest in order, counting queueing in TTFT', async () => {
    const s = await sim({ ttftMs: 150, itlMs: 20, maxConcurrency: 2 });
    const body = chat({ max_tokens: 3, stream: true });
    const all = Promise.all([1, 2, 3, 4].map(() => stream(`${s.url}/v1/chat/completions`, body)));
    // Wait until the server has seen all four.
    for (let i = 0; i < 200 && s.load().running + s.load().waiting < 4; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.load()).toEqual({ running: 2, waiting: 2 });
    const during = await (await fetch(`${s.url}/metrics`)).text();
    expect(metric(during, 'vllm:num_requests_running{model_name="simulator"}')).toBe(2);
    expect(metric(during, 'vllm:num_requests_waiting{model_name="simulator"}')).toBe(2);
    const results = await all;
    const firsts = results.map((r) => r.events[0]!.at).sort((a, b) => a - b);
    // The queued pair starts when the first pair ends (150 + 2·20 ms), so its TTFT includes that wait.
    // Only lower bounds: a busy machine can make everything later, never earlier.
    expect(firsts[0]!).toBeGreaterThan(149);
    expect(firsts[2]!).toBeGreaterThan(150 + 40 + 150 - 1);
    expect(s.load()).toEqual({ running: 0, waiting: 0 });
    const after = await (await fetch(`${s.url}/metrics`)).text();
    expect(metric(after, 'vllm:generation_tokens_total{model_name="simulator"}')).toBe(12);
    expect(metric(after, 'vllm:prompt_tokens_total{model_name="simulator"}')).toBe(52);
    expect(metric(after, 'vllm:time_to_first_token_seconds_count{model_name="simulator"}')).toBe(4);
    expect(metric(after, 'vllm:e2e_request_latency_seconds_count{model_name="simulator"}')).toBe(4);
    expect(metric(after, 'vllm:time_per_output_token_seconds_count{model_name="simulator"}')).toBe(4);
    expect(metric(after, 'vllm:request_success_total{model_name="simulator",finished_reason="length"}')).toBe(4);
    expect(metric(after, 'vllm:num_requests_running{model_name="simulator"}')).toBe(0);
    expect(metric(after, 'vllm:request_queue_time_seconds_sum{model_name="simulator"}')).toBeGreaterThan(2 * 0.15);
  });

  it('frees the sequence slot when a client disconnects mid-stream', async () => {
    const s = await sim({ ttftMs: 5, itlMs: 50, maxConcurrency: 1 });
    const abort = new AbortController();
    const first = stream(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1000, stream: true }), abort.signal).catch(() => 'aborted');
    for (let i = 0; i < 200 && s.load().running < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.load().running).toBe(1);
    abort.abort();
    expect(await first).toBe('aborted');
    for (let i = 0; i < 200 && s.load().running > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.load()).toEqual({ running: 0, waiting: 0 });
    const next = await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1 }));
    expect(next.status).toBe(200);
  });

  it('answers 429 beyond a bounded queue, and injects failures at the configured rate', async () => {
    const s = await sim({ ttftMs: 200, maxConcurrency: 1, maxQueue: 1 });
    const a = post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1 }));
    const b = post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1 }));
    for (let i = 0; i < 200 && s.load().waiting < 1; i++) await new Promise((r) => setTimeout(r, 5));
    const c = await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1 }));
    expect(c.status).toBe(429);
    expect(c.json.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);

    const failing = await sim({ failRate: 1, failStatus: 503 });
    const f = await post(`${failing.url}/v1/chat/completions`, chat());
    expect(f.status).toBe(503);
    expect(f.json.error).toMatchObject({ type: 'server_error', code: 'injected_failure' });
  });
});

describe('simulator timing', () => {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });

  // Real time is the thing under test here, so this test measures wall time; the tolerance is loose
  // because the test machine is shared. The simulator runs in its own process, as a replica does, so
  // the client's work does not delay its timers; the benchmark measures the same thing precisely.
  it('delivers the first token after the configured TTFT and the next ones at the configured ITL, across 50 streams', async ({ skip }) => {
    const ttft = 60;
    const itl = 15;
    const replica = await spawnRuntime(simulatorRuntime, { ttftMs: ttft, itlMs: itl, maxConcurrency: 100 });
    const agent = new Agent({ connections: 50 });
    try {
      const url = `${replica.url}/v1/chat/completions`;
      const run = async (maxTokens: number) => {
        const sent = performance.now();
        const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat({ max_tokens: maxTokens, stream: true })) });
        const times: number[] = [];
        let buf = '';
        for await (const chunk of res.body) {
          const at = performance.now() - sent;
          buf += (chunk as Buffer).toString();
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (ev.includes('"content":"') && !ev.includes('"content":""')) times.push(at);
          }
        }
        return times;
      };
      // Open the connections and warm both processes up before measuring.
      await Promise.all(Array.from({ length: 50 }, () => run(2)));
      const quantile = (a: number[], q: number) => [...a].sort((x, y) => x - y)[Math.floor(q * (a.length - 1))]!;
      const measure = async () => {
        // This process's own event-loop delay tells whether the machine was too busy for the try to count.
        const lag = monitorEventLoopDelay({ resolution: 1 });
        lag.enable();
        // Arrivals spread over 250 ms, as an open-loop load generator sends them; a burst of 50 in one
        // tick would measure how fast this client can send, not the simulator.
        const runs = await Promise.all(
          Array.from({ length: 50 }, (_, i) => new Promise((r) => setTimeout(r, i * 5)).then(() => run(20))),
        );
        lag.disable();
        for (const t of runs) expect(t).toHaveLength(20);
        const ttfts = runs.map((t) => t[0]!);
        const itls = runs.flatMap((t) => t.slice(1).map((v, i) => v - t[i]!));
        const lasts = runs.map((t) => t[19]!);
        return {
          minTtft: Math.min(...ttfts),
          medianTtft: quantile(ttfts, 0.5),
          medianItl: quantile(itls, 0.5),
          minLast: Math.min(...lasts),
          clientLagP99: lag.percentile(99) / 1e6,
        };
      };
      // The earliest stream shows the schedule itself: tokens are never early, and a stream that met
      // no pause arrives on time. Later streams absorb whatever pauses a shared machine inflicts on
      // either process, so the median is bounded loosely. Absolute schedules do not drift: the last
      // token lands near ttft + 19·itl, not 19 gaps' lateness later.
      const onTime = (m: Awaited<ReturnType<typeof measure>>) =>
        m.minTtft > ttft - 1 &&
        m.minTtft < ttft + 5 &&
        m.medianTtft < ttft + 50 &&
        Math.abs(m.medianItl - itl) < 3 &&
        m.minLast > ttft + 19 * itl - 1 &&
        m.minLast < ttft + 19 * itl + 8;
      // A try during which this process itself stalled (other work saturating the machine) says
      // nothing about the simulator and is repeated; a calm try that is late fails the test.
      const tries: Awaited<ReturnType<typeof measure>>[] = [];
      for (let i = 0; i < 5; i++) {
        const m = await measure();
        tries.push(m);
        if (onTime(m)) return;
        if (m.clientLagP99 < 15) break;
      }
      const calm = tries.filter((m) => m.clientLagP99 < 15);
      if (calm.length === 0) skip(`the machine was too busy to measure timing: ${JSON.stringify(tries)}`);
      expect(calm.some(onTime), JSON.stringify(tries)).toBe(true);
    } finally {
      await agent.close();
      await replica.stop();
    }
  });

  it('slows down by the slow factor', async () => {
    const s = await sim({ ttftMs: 20, itlMs: 5, slowFactor: 3 });
    const { events } = await stream(`${s.url}/v1/chat/completions`, chat({ max_tokens: 5, stream: true }));
    expect(events[0]!.at).toBeGreaterThan(55);
  });
});

describe('the scheduler', () => {
  it('runs tasks in due order, skips cancelled ones, and never early', async () => {
    const scheduler = new Scheduler({ spinMs: 1 });
    const base = performance.now() + 5;
    const ran: [number, number][] = [];
    const done = new Promise<void>((resolve) => {
      for (const offset of [12, 3, 7, 0, 9]) scheduler.at(base + offset, (now) => ran.push([offset, now - (base + offset)]));
      const cancelled = scheduler.at(base + 5, () => ran.push([-1, 0]));
      scheduler.cancel(cancelled);
      scheduler.at(base + 15, () => resolve());
    });
    await done;
    expect(ran.map(([o]) => o)).toEqual([0, 3, 7, 9, 12]);
    for (const [, late] of ran) expect(late).toBeGreaterThanOrEqual(0);
    scheduler.close();
  });
});
