import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { type Json, type Harness, chat, startHarness, until } from './harness.js';

describe('OpenAI-compatible routes through the gateway', () => {
  let h: Harness;
  let simA: RunningSimulator;
  let simB: RunningSimulator;
  let embed: RunningSimulator;

  beforeAll(async () => {
    h = await startHarness();
    simA = await startSimulator({ modelName: 'llama', ttftMs: 5, itlMs: 5, timerSpinMs: 0, seed: 1 });
    simB = await startSimulator({ modelName: 'llama', ttftMs: 5, itlMs: 5, timerSpinMs: 0, seed: 2 });
    embed = await startSimulator({ modelName: 'minilm', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    await h.publish({
      id: 'dep_llama',
      kind: 'deployment',
      name: 'llama',
      aliases: ['md-dep_llama'],
      protocol: 'openai',
      replicas: [
        { id: 'r-a', url: simA.url, ready: true },
        { id: 'r-b', url: simB.url, ready: true },
      ],
    });
    await h.publish({ id: 'dep_minilm', kind: 'deployment', name: 'minilm', aliases: [], protocol: 'openai', replicas: [{ id: 'r-e', url: embed.url, ready: true }] });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([simA?.close(), simB?.close(), embed?.close()]);
  });

  it('routes a chat completion by its model field to a replica of that deployment', async () => {
    const res = await h.call('/v1/chat/completions', { body: chat('llama') });
    expect(res.status).toBe(200);
    expect(['r-a', 'r-b']).toContain(res.headers.get('x-catapult-replica'));
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as Json;
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('llama');
    expect(body.usage.completion_tokens).toBe(4);
  });

  it('spreads requests over the ready replicas', async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 5; round++) {
      // Concurrent requests: the second of two in flight goes to the replica with fewer outstanding.
      const answers = await Promise.all(Array.from({ length: 6 }, () => h.call('/v1/completions', { body: { model: 'llama', prompt: 'hi', max_tokens: 8 } })));
      for (const res of answers) {
        expect(res.status).toBe(200);
        seen.add(res.headers.get('x-catapult-replica')!);
        await res.arrayBuffer();
      }
    }
    expect(seen).toEqual(new Set(['r-a', 'r-b']));
  });

  it('accepts the md-<id> alias and rewrites the model name the replica expects', async () => {
    const res = await h.call('/v1/chat/completions', { body: chat('md-dep_llama') });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).model).toBe('llama');
  });

  it('passes an event stream through chunk by chunk while the replica is still generating', async () => {
    const res = await h.call('/v1/chat/completions', { body: chat('llama', { stream: true, max_tokens: 40 }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: /);
    // The first token arrived while the replica still holds the sequence: nothing was buffered to the end.
    expect(simA.load().running + simB.load().running).toBe(1);
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('data: [DONE]');
  });

  it('cancels the upstream generation when the client disconnects', async () => {
    const controller = new AbortController();
    const res = await h.call('/v1/chat/completions', { body: chat('llama', { stream: true, max_tokens: 2000 }) });
    void controller;
    const reader = res.body!.getReader();
    await reader.read();
    expect(simA.load().running + simB.load().running).toBe(1);
    await reader.cancel();
    await until(() => simA.load().running + simB.load().running === 0, 'the replica to drop the abandoned generation');
  });

  it('serves embeddings and lists the models a key may use', async () => {
    const res = await h.call('/v1/embeddings', { body: { model: 'minilm', input: ['a', 'b'] } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.data).toHaveLength(2);
    const models = (await (await h.call('/v1/models')).json()) as Json;
    expect(models.object).toBe('list');
    expect(models.data.map((m: Json) => m.id)).toEqual(['llama', 'minilm']);
    const one = await h.call('/v1/models/minilm');
    expect(((await one.json()) as Json).id).toBe('minilm');
  });

  it('routes multipart audio transcriptions by their model field', async () => {
    const form = new FormData();
    form.append('model', 'llama');
    form.append('file', new Blob([Buffer.from('RIFF....WAVEfake audio')]), 'clip.wav');
    const res = await fetch(`${h.gw.url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: { authorization: `Bearer ${h.inferKey}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).text).toBe('the quick brown fox jumps over the lazy dog');
  });
});

describe('the access log', () => {
  it('writes one structured line per request, without the key’s secret', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const h = await startHarness({ log });
    const sim = await startSimulator({ modelName: 'logged', ttftMs: 1, itlMs: 1, timerSpinMs: 0 });
    try {
      await h.publish({ id: 'dep_logged', kind: 'deployment', name: 'logged', aliases: [], protocol: 'openai', replicas: [{ id: 'r', url: sim.url, ready: true }] });
      const res = await h.call('/v1/chat/completions', { body: chat('logged', { max_tokens: 3 }), headers: { 'x-request-id': 'req-42' } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const line = await until(() => lines.map((l): Json => JSON.parse(l)).find((l) => l.msg === 'request' && l.id === 'req-42'), 'the access-log line');
      expect(line).toMatchObject({ method: 'POST', path: '/v1/chat/completions', status: 200, deployment: 'logged', replica: 'r', tokensOut: 3 });
      expect(line.ms).toBeTypeOf('number');
      expect(lines.join('\n')).not.toContain(h.inferKey);
    } finally {
      await h.close();
      await sim.close();
    }
  });
});
