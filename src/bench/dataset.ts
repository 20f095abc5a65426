import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import { Rng } from '../util/index.js';
import { type AudioItem, DatasetError, audioContentType, audioDurationSeconds, loadAsrManifest, loadHfArrow } from './audio.js';
import type { PreparedItem } from './engine.js';
import type { Recipe } from './recipe.js';
import { countTokens, loadTokenizer, truncateToTokens } from './tokens.js';

/** What a dataset item of an LLM workload asks for. */
interface PromptItem {
  id: string;
  prompt?: string;
  messages?: { role: string; content: unknown }[];
  maxTokens?: number;
}

export interface PrepareOptions {
  /** The model name requests carry. */
  model: string;
  /** Folder relative dataset paths are resolved from. */
  cwd: string;
}

const PROMPT_WORDS = (
  'time person year way day thing man world life hand part child eye woman place work week case point government company ' +
  'number group problem fact system program question night story moment water money business history area research data ' +
  'model server request token latency cluster memory network storage network signal answer reason result method study'
).split(' ');

/** Samples a length from a recipe length distribution. */
function sampleLength(dist: Extract<Recipe['workload']['dataset'], { type: 'synthetic' }>['inputTokens'], rng: Rng): number {
  if (typeof dist === 'number') return dist;
  switch (dist.dist) {
    case 'fixed':
      return dist.value;
    case 'uniform':
      return rng.int(Math.min(dist.min, dist.max), Math.max(dist.min, dist.max));
    case 'normal': {
      const v = Math.round(rng.normal(dist.mean, dist.stddev));
      return Math.max(dist.min ?? 1, Math.min(dist.max ?? Number.MAX_SAFE_INTEGER, v));
    }
  }
}

/** A prompt of exactly `n` tokens (by our tokenizer), from seeded random words. */
function syntheticPrompt(n: number, rng: Rng): string {
  const words: string[] = [];
  // Common words are one token each with their leading space; a few extra make truncation exact.
  for (let i = 0; i < n + 8; i++) words.push(PROMPT_WORDS[Math.floor(rng.next() * PROMPT_WORDS.length)]!);
  return truncateToTokens(words.join(' '), n);
}

function fail(message: string, where: { file: string; line?: number; field?: string }): never {
  throw new DatasetError(message, where);
}

/** A dataset line or inline entry as a prompt item. */
function toPromptItem(raw: unknown, id: string, where: { file: string; line?: number }): PromptItem {
  if (typeof raw === 'string') return { id, prompt: raw };
  if (raw && typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    const maxTokens = o.maxTokens ?? o.max_tokens ?? o.outputTokens ?? o.output_tokens;
    if (maxTokens !== undefined && (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1)) {
      fail(`maxTokens must be a positive integer, not ${JSON.stringify(maxTokens)}`, { ...where, field: 'maxTokens' });
    }
    const itemId = typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : id;
    if (typeof o.prompt === 'string') return { id: itemId, prompt: o.prompt, ...(maxTokens !== undefined ? { maxTokens: maxTokens } : {}) };
    if (Array.isArray(o.messages)) return { id: itemId, messages: o.messages as PromptItem['messages'], ...(maxTokens !== undefined ? { maxTokens: maxTokens } : {}) };
  }
  return fail('an item needs a prompt (a string, or an object with prompt or messages)', where);
}

async function readJsonl(file: string): Promise<{ value: unknown; line: number }[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return fail(`cannot read the dataset file: ${(err as Error).message}`, { file });
  }
  const out: { value: unknown; line: number }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push({ value: JSON.parse(line), line: i + 1 });
    } catch (err) {
      fail(`line ${i + 1} is not JSON (${(err as Error).message})`, { file, line: i + 1 });
    }
  });
  if (out.length === 0) fail('the dataset file has no items', { file });
  return out;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/**
 * An OpenAI-style transcription request body: multipart/form-data with the audio as `file`. Built
 * once per item, so sending it costs only the write.
 */
function multipart(item: AudioItem, model: string): { body: Buffer; contentType: string } {
  const boundary = `----catapult${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) => Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const safeName = item.filename.replace(/["\r\n]/g, '_');
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${safeName}"\r\ncontent-type: ${item.contentType}\r\n\r\n`),
    item.audio,
    Buffer.from('\r\n'),
    field('model', model),
    field('response_format', 'json'),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

async function audioItems(recipe: Recipe, cwd: string): Promise<AudioItem[]> {
  const ds = recipe.workload.dataset;
  const at = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  if (ds.type === 'asr-manifest') return loadAsrManifest(at(ds.path), ds.audioRoot ? { audioRoot: at(ds.audioRoot) } : {});
  if (ds.type === 'hf-arrow') return loadHfArrow(at(ds.path), { audioColumn: ds.audioColumn, textColumn: ds.textColumn });
  if (ds.type === 'inline') {
    const out: AudioItem[] = [];
    for (const [n, raw] of ds.items.entries()) {
      const o = raw as Record<string, unknown> | null;
      const where = { file: 'recipe', field: `workload.dataset.items.${n}` };
      if (!o || typeof o.audio !== 'string' || typeof (o.text ?? o.reference) !== 'string') fail('an ASR item needs audio (a file path) and text (its reference transcript)', where);
      const file = at(o.audio);
      let audio: Buffer;
      try {
        audio = await readFile(file);
      } catch (err) {
        return fail(`cannot read ${file}: ${(err as Error).message}`, where);
      }
      const duration = typeof o.duration === 'number' ? o.duration : audioDurationSeconds(audio, file);
      out.push({ id: typeof o.id === 'string' ? o.id : basename(file), audio, filename: basename(file), contentType: audioContentType(file), reference: (o.text ?? o.reference) as string, durationS: duration });
    }
    return out;
  }
  return fail(`${ds.type} datasets hold no audio`, { file: 'recipe', field: 'workload.dataset.type' });
}

/**
 * Turns a recipe's dataset into ready-to-send requests for its API. Synthetic prompts are generated
 * from the recipe's seed with exactly the sampled number of tokens (by our tokenizer, which the
 * server's may count differently: its `usage` is what results report when it sends one).
 */
export async function prepareItems(recipe: Recipe, opts: PrepareOptions): Promise<PreparedItem[]> {
  const { workload } = recipe;
  const ds = workload.dataset;
  const api = workload.api;
  if (api === 'asr-transcriptions') {
    const audio = await audioItems(recipe, opts.cwd);
    return audio.map((a) => {
      const { body, contentType } = workload.audioEncoding === 'json-base64' ? { body: json({ audio: a.audio.toString('base64'), model: opts.model }), contentType: 'application/json' } : multipart(a, opts.model);
      return { id: a.id, method: 'POST', path: '/v1/audio/transcriptions', contentType, body, promptTokens: null, maxTokens: null, reference: a.reference, audioSeconds: a.durationS };
    });
  }

  if (api === 'kserve-v2' || api === 'http') {
    let raw: { value: unknown; id: string }[];
    if (ds.type === 'inline') raw = ds.items.map((value, i) => ({ value, id: String(i) }));
    else if (ds.type === 'jsonl') raw = (await readJsonl(isAbsolute(ds.path) ? ds.path : resolve(opts.cwd, ds.path))).map((l) => ({ value: l.value, id: String(l.line) }));
    else return fail(`${ds.type} datasets are not for ${api}`, { file: 'recipe', field: 'workload.dataset.type' });
    const path = api === 'kserve-v2' ? `/v2/models/${encodeURIComponent(opts.model)}/infer` : (workload.path ?? '/');
    const method = api === 'kserve-v2' ? 'POST' : workload.method;
    return raw.map(({ value, id }) => {
      const body = method === 'GET' || value === null || value === undefined ? null : typeof value === 'string' ? Buffer.from(value) : json(value);
      const contentType = body === null ? null : typeof value === 'string' ? 'text/plain' : 'application/json';
      return { id, method, path, contentType, body, promptTokens: null, maxTokens: null, reference: null, audioSeconds: null };
    });
  }

  // openai-chat and openai-completions
  await loadTokenizer();
  let prompts: PromptItem[];
  if (ds.type === 'synthetic') {
    const rng = new Rng(recipe.seed * 2654435761 + 1);
    prompts = [];
    for (let i = 0; i < ds.count; i++) {
      const n = sampleLength(ds.inputTokens, rng);
      prompts.push({ id: `syn-${i}`, prompt: syntheticPrompt(n, rng), maxTokens: sampleLength(ds.outputTokens, rng) });
    }
  } else if (ds.type === 'inline') {
    prompts = ds.items.map((v, i) => toPromptItem(v, String(i), { file: 'recipe' }));
  } else if (ds.type === 'jsonl') {
    const file = isAbsolute(ds.path) ? ds.path : resolve(opts.cwd, ds.path);
    prompts = (await readJsonl(file)).map((l) => toPromptItem(l.value, String(l.line), { file, line: l.line }));
  } else {
    return fail(`${ds.type} datasets are for asr-transcriptions`, { file: 'recipe', field: 'workload.dataset.type' });
  }

  const chat = api === 'openai-chat';
  return prompts.map((p) => {
    const maxTokens = p.maxTokens ?? workload.maxTokens ?? null;
    const text = p.prompt ?? (p.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    const body: Record<string, unknown> = { model: opts.model };
    if (chat) body.messages = p.messages ?? [{ role: 'user', content: p.prompt }];
    else body.prompt = p.prompt ?? text;
    if (maxTokens !== null) body.max_tokens = maxTokens;
    if (maxTokens !== null && workload.ignoreEos) {
      // vLLM's extension (also honoured by SGLang and the simulator): generate exactly max_tokens.
      body.ignore_eos = true;
    }
    if (workload.temperature !== undefined) body.temperature = workload.temperature;
    body.stream = workload.stream;
    if (workload.stream) body.stream_options = { include_usage: true };
    return {
      id: p.id,
      method: 'POST',
      path: chat ? '/v1/chat/completions' : '/v1/completions',
      contentType: 'application/json',
      body: json(body),
      promptTokens: countTokens(text),
      maxTokens,
      reference: null,
      audioSeconds: null,
    };
  });
}
