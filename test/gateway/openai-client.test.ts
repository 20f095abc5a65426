import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../../src/runtimes/index.js';
import { type Harness, startHarness } from './harness.js';

/** The official `openai` package, pointed at the gateway, against the simulator. */
describe('the official OpenAI client through the gateway', () => {
  let h: Harness;
  let sim: RunningSimulator;
  let client: OpenAI;
  beforeAll(async () => {
    h = await startHarness();
    sim = await startSimulator({ modelName: 'llama', ttftMs: 2, itlMs: 1, timerSpinMs: 0 });
    await h.publish({ id: 'dep_llama', kind: 'deployment', name: 'llama', aliases: [], protocol: 'openai', replicas: [{ id: 'r', url: sim.url, ready: true }] });
    client = new OpenAI({ baseURL: `${h.gw.url}/v1`, apiKey: h.inferKey, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
  });

  it('runs a chat completion', async () => {
    const out = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 6 });
    expect(out.choices[0]!.message.role).toBe('assistant');
    expect(out.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(out.usage?.completion_tokens).toBe(6);
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'Hello there' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThanOrEqual(8);
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBe(8);
  });

  it('runs a completion, streamed and not', async () => {
    const out = await client.completions.create({ model: 'llama', prompt: 'Once upon a time', max_tokens: 5 });
    expect(out.choices[0]!.text.length).toBeGreaterThan(0);
    const stream = await client.completions.create({ model: 'llama', prompt: 'Once upon a time', max_tokens: 5, stream: true });
    let n = 0;
    for await (const chunk of stream) n += chunk.choices.length;
    expect(n).toBeGreaterThanOrEqual(5);
  });

  it('creates embeddings', async () => {
    const out = await client.embeddings.create({ model: 'llama', input: ['one', 'two'] });
    expect(out.data).toHaveLength(2);
    expect(out.data[0]!.embedding).toHaveLength(384);
  });

  it('lists models and surfaces gateway errors as typed API errors', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['llama']);
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    const anonymous = new OpenAI({ baseURL: `${h.gw.url}/v1`, apiKey: 'cat_wrong', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
