import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { basename, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../observability/index.js';
import { BodyTooLargeError, baseUrl, listen, readBody, sendJson, sendText } from '../http.js';
import type { RunningServer } from '../onnx/server.js';
import { type FinishReason, SimulatorMetrics } from './metrics.js';
import { multipartBoundary, parseMultipart } from './multipart.js';
import { type SimulatorOptions, type SimulatorOptionsInput, simulatorOptionsSchema } from './options.js';
import { Rng, hashString, sampleLength } from './random.js';
import { type ScheduledTask, Scheduler } from './scheduler.js';
import { type SlotWaiter, SequenceSlots } from './slots.js';
import { CHAT_REPLY_PRIMER_TOKENS, CHAT_TOKENS_PER_MESSAGE, countTokens, generateTokens, tokenize } from './text.js';

export interface SimulatorServerOptions extends SimulatorOptionsInput {
  /** Model name served (`/v1/models`, the `model` field requests must carry). */
  modelName?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  log?: Logger;
}

export interface RunningSimulator extends RunningServer {
  options: SimulatorOptions & { modelName: string };
  /** Requests generating and waiting right now. */
  load(): { running: number; waiting: number };
}

/** An OpenAI-style error: status and the `{ error: { message, type, param, code } }` body. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }
}

function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: err.code } });
}

type Json = Record<string, unknown>;

/** What a generation request asks for, once validated. */
interface GenerationRequest {
  kind: 'chat' | 'completion';
  promptTokens: number;
  promptWords: string[];
  maxTokens: number | undefined;
  minTokens: number;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  seed: number | undefined;
  promptHash: number;
}

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/**
 * An OpenAI-compatible LLM simulator. Generation takes the configured time and nothing else: each
 * request waits for a sequence slot, emits its first token `ttft` after admission and each next one
 * `itl` later, all scheduled on absolute times by one shared scheduler. Plain node:http writes each
 * token as one SSE event with no framework in between, which keeps thousands of streams on time.
 */
export async function startSimulator(opts: SimulatorServerOptions = {}): Promise<RunningSimulator> {
  const { modelName: name, host: h, port: p, log, ...rest } = opts;
  const options = simulatorOptionsSchema.parse(rest);
  const modelName = name ?? 'simulator';
  const host = h ?? '127.0.0.1';
  // Without polling, libuv timers fire up to ~1 ms late; running tasks due within 0.5 ms centres the
  // error on the due time, so measured medians match the configured values without a busy core.
  const scheduler = new Scheduler({ spinMs: options.timerSpinMs, earlyMs: options.timerSpinMs > 0 ? 0 : 0.5 });
  const metrics = new SimulatorMetrics(modelName, options.maxConcurrency);
  const slots = new SequenceSlots(options.maxConcurrency, (running, waiting) => metrics.setQueue(running, waiting));
  const failRng = new Rng(options.seed, 0xfa11);
  const created = Math.floor(Date.now() / 1000);
  const modelJson = JSON.stringify(modelName);
  const active = new Set<() => void>();
  // Requests without a seed of their own draw from (server seed, arrival number, prompt).
  let requestCounter = 0;

  const ttftFor = (rng: Rng): number =>
    Math.max(0, options.ttftMs + (options.ttftJitterMs > 0 ? options.ttftJitterMs * rng.normal() : 0)) * options.slowFactor;
  const gapFor = (rng: Rng): number =>
    Math.max(0, options.itlMs + (options.itlJitterMs > 0 ? options.itlJitterMs * rng.normal() : 0)) * options.slowFactor;

  function checkModel(body: Json): void {
    if (typeof body.model !== 'string' || body.model === '') {
      throw new ApiError(400, 'you must provide a model parameter', 'model', 'missing_required_parameter');
    }
    if (body.model !== modelName) {
      throw new ApiError(404, `The model \`${body.model}\` does not exist. This server serves \`${modelName}\`.`, 'model', 'model_not_found');
    }
  }

  function maybeFail(): void {
    if (options.failRate > 0 && failRng.next() < options.failRate) {
      throw new ApiError(options.failStatus, 'injected failure (simulator --fail-rate)', null, 'injected_failure');
    }
  }

  /**
   * Refuses what does not fit the context window, as vLLM and OpenAI do (400, `context_length_exceeded`).
   * This also bounds the work one request can ask of the server: its tokens are made up front, so
   * without the bound one `max_tokens: 100000000` would hold the event loop for every other client.
   */
  function checkContextLength(req: GenerationRequest): void {
    const limit = options.maxModelLen;
    const where = req.kind === 'chat' ? 'messages' : 'prompt';
    const tooLong = (requested: string, param: string): never => {
      throw new ApiError(
        400,
        `This model's maximum context length is ${limit} tokens. However, you requested ${requested}. Please reduce the length of the ${where} or completion.`,
        param,
        'context_length_exceeded',
      );
    };
    if (req.promptTokens >= limit) tooLong(`${req.promptTokens} tokens in the ${where}, leaving no room for a completion`, where);
    const completion = req.maxTokens ?? req.minTokens;
    if (req.promptTokens + completion > limit) {
      tooLong(`${req.promptTokens + completion} tokens (${req.promptTokens} in the ${where}, ${completion} in the completion)`, req.maxTokens !== undefined ? 'max_tokens' : 'min_tokens');
    }
  }

  function outputLength(req: GenerationRequest, rng: Rng): { n: number; reason: 'stop' | 'length' } {
    if (req.maxTokens !== undefined && (options.maxTokensPolicy === 'exact' || req.ignoreEos)) {
      return { n: req.maxTokens, reason: 'length' };
    }
    const room = options.maxModelLen - req.promptTokens;
    const sampled = Math.min(room, Math.max(req.minTokens, sampleLength(options.outputTokens, rng)));
    if (sampled === room && req.maxTokens === undefined) return { n: sampled, reason: 'length' };
    if (req.maxTokens !== undefined && sampled >= req.maxTokens) return { n: req.maxTokens, reason: 'length' };
    return { n: sampled, reason: 'stop' };
  }

  /** Runs one generation: queue, admission, tokens on schedule, then the finish. */
  function generate(req: GenerationRequest, res: ServerResponse, arrival: number): void {
    checkContextLength(req);
    if (options.maxQueue > 0 && slots.waiting >= options.maxQueue && slots.running >= slots.capacity) {
      throw new ApiError(429, `the simulator's queue is full (${options.maxQueue} waiting)`, null, 'queue_full', 'rate_limit_error');
    }
    const rng = new Rng(options.seed, req.seed ?? ++requestCounter, req.promptHash);
    const { n, reason } = outputLength(req, rng);
    const tokens = generateTokens(n, rng, options.mode === 'echo' ? req.promptWords : undefined);
    const id = newId(req.kind === 'chat' ? 'chatcmpl' : 'cmpl');
    const createdAt = Math.floor(Date.now() / 1000);
    let admittedAt = 0;
    let firstAt = 0;
    let emitted = 0;
    let task: ScheduledTask | undefined;
    let done = false;
    const waiter: SlotWaiter = { admit: () => start() };

    const finish = (why: FinishReason): void => {
      if (done) return;
      done = true;
      active.delete(abort);
      if (task) scheduler.cancel(task);
      const now = performance.now();
      if (waiter.state === 'waiting') {
        slots.withdraw(waiter);
        return;
      }
      slots.release(waiter);
      metrics.finished({
        queueSeconds: (admittedAt - arrival) / 1000,
        e2eSeconds: (now - arrival) / 1000,
        tpotSeconds: emitted > 1 ? (now - firstAt) / 1000 / (emitted - 1) : undefined,
        promptTokens: req.promptTokens,
        generationTokens: emitted,
        reason: why,
      });
    };
    const abort = (): void => {
      finish('abort');
      if (!res.writableEnded) res.destroy();
    };
    active.add(abort);
    // A client that disconnects frees its slot (or its place in the queue) at once.
    res.on('close', () => {
      if (!done) finish('abort');
    });

    const usage = (): string =>
      `{"prompt_tokens":${req.promptTokens},"completion_tokens":${n},"total_tokens":${req.promptTokens + n}}`;

    // SSE events are built from a fixed prefix per request, so each token costs one string concat.
    const usageNull = req.includeUsage ? ',"usage":null' : '';
    const head =
      req.kind === 'chat'
        ? `data: {"id":"${id}","object":"chat.completion.chunk","created":${createdAt},"model":${modelJson},"system_fingerprint":null,"choices":[{"index":0,"delta":`
        : `data: {"id":"${id}","object":"text_completion","created":${createdAt},"model":${modelJson},"system_fingerprint":null,"choices":[{"index":0,`;
    const tokenEvent = (text: string): string =>
      req.kind === 'chat'
        ? `${head}{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
        : `${head}"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`;
    const finishEvent = (): string =>
      (req.kind === 'chat'
        ? `${head}{},"logprobs":null,"finish_reason":"${reason}"}]${usageNull}}\n\n`
        : `${head}"text":"","logprobs":null,"finish_reason":"${reason}"}]${usageNull}}\n\n`) +
      (req.includeUsage
        ? `data: {"id":"${id}","object":"${req.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion'}","created":${createdAt},"model":${modelJson},"system_fingerprint":null,"choices":[],"usage":${usage()}}\n\n`
        : '') +
      'data: [DONE]\n\n';

    const step = options.itlMs * options.slowFactor;
    let ttft = 0;
    let due = 0;
    // Token i is due at admission + ttft + i·itl exactly; with jitter each gap is drawn, still on absolute times.
    const nextDue = (): number => (options.itlJitterMs > 0 ? due + gapFor(rng) : admittedAt + ttft + emitted * step);

    const onToken = (now: number): void => {
      if (done) return;
      task = undefined;
      if (emitted === 0) {
        firstAt = now;
        metrics.firstToken((now - arrival) / 1000);
      }
      let chunk =
        emitted === 0 && req.kind === 'chat' ? `${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n` : '';
      chunk += tokenEvent(tokens[emitted]!);
      emitted++;
      if (emitted === n) {
        res.end(chunk + finishEvent());
        finish(reason);
        return;
      }
      res.write(chunk);
      due = nextDue();
      task = scheduler.at(due, onToken);
    };

    // Without streaming nothing is sent before the end, so the response is due when the last token would be.
    const onComplete = (): void => {
      if (done) return;
      task = undefined;
      firstAt = admittedAt + ttft;
      metrics.firstToken((firstAt - arrival) / 1000);
      emitted = n;
      sendText(res, 200, completeBody(), 'application/json');
      finish(reason);
    };

    const completeBody = (): string => {
      const text = JSON.stringify(tokens.join(''));
      return req.kind === 'chat'
        ? `{"id":"${id}","object":"chat.completion","created":${createdAt},"model":${modelJson},"system_fingerprint":null,"choices":[{"index":0,"message":{"role":"assistant","content":${text},"refusal":null,"tool_calls":[]},"logprobs":null,"finish_reason":"${reason}"}],"usage":${usage()}}`
        : `{"id":"${id}","object":"text_completion","created":${createdAt},"model":${modelJson},"system_fingerprint":null,"choices":[{"index":0,"text":${text},"logprobs":null,"finish_reason":"${reason}"}],"usage":${usage()}}`;
    };

    let acquiring = true;
    function start(): void {
      if (done) return;
      admittedAt = performance.now();
      // Admitted at once: prefill starts at arrival, so reading the body does not add to TTFT.
      if (acquiring) admittedAt = arrival;
      ttft = ttftFor(rng);
      due = admittedAt + ttft;
      if (req.stream) {
        task = scheduler.at(due, onToken);
      } else {
        for (emitted = 1; emitted < n; emitted++) due = nextDue();
        emitted = 0;
        task = scheduler.at(due, onComplete);
      }
    }

    slots.acquire(waiter);
    acquiring = false;
    // Headers go out after admission is settled, so their write never delays the token schedule.
    if (req.stream && !done) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.flushHeaders();
    }
  }

  async function embeddings(body: Json, res: ServerResponse): Promise<void> {
    checkModel(body);
    const inputs = embeddingInputs(body.input);
    let dim = options.embeddingDim;
    if (body.dimensions !== undefined) {
      if (!Number.isInteger(body.dimensions) || (body.dimensions as number) < 1 || (body.dimensions as number) > 65_536) {
        throw new ApiError(400, 'dimensions must be an integer from 1 to 65536', 'dimensions', 'invalid_value');
      }
      dim = body.dimensions as number;
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      throw new ApiError(400, "encoding_format must be 'float' or 'base64'", 'encoding_format', 'invalid_value');
    }
    maybeFail();
    let promptTokens = 0;
    const data = inputs.map((input, index) => {
      promptTokens += input.tokens;
      const v = embeddingVector(input.key, dim, options.seed);
      const embedding = format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
      return { object: 'embedding', index, embedding };
    });
    metrics.prompt(promptTokens);
    if (options.embeddingLatencyMs > 0) {
      await new Promise<void>((resolve) => scheduler.at(performance.now() + options.embeddingLatencyMs * options.slowFactor, () => resolve()));
    }
    sendJson(res, 200, { object: 'list', data, model: modelName, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
  }

  async function transcriptions(req: IncomingMessage, raw: Buffer, res: ServerResponse): Promise<void> {
    let model: string | undefined;
    let filename: string | undefined;
    let audio: Buffer | undefined;
    let responseFormat = 'json';
    let language: string | undefined;
    const boundary = multipartBoundary(req.headers['content-type']);
    if (boundary) {
      let parts;
      try {
        parts = parseMultipart(raw, boundary);
      } catch (err) {
        throw new ApiError(400, `cannot read the multipart body: ${(err as Error).message}`, null, 'invalid_multipart');
      }
      for (const part of parts) {
        if (part.name === 'file') {
          audio = part.data;
          filename = part.filename;
        } else if (part.name === 'model') model = part.data.toString('utf8');
        else if (part.name === 'response_format') responseFormat = part.data.toString('utf8');
        else if (part.name === 'language') language = part.data.toString('utf8');
      }
    } else if (/^application\/json/i.test(req.headers['content-type'] ?? '')) {
      // Some ASR clients post JSON with base64 audio instead of a form.
      const body = parseJson(raw);
      model = typeof body.model === 'string' ? body.model : undefined;
      const b64 = typeof body.file === 'string' ? body.file : typeof body.audio === 'string' ? body.audio : undefined;
      audio = b64 !== undefined ? Buffer.from(b64, 'base64') : undefined;
      filename = typeof body.filename === 'string' ? body.filename : undefined;
      if (typeof body.response_format === 'string') responseFormat = body.response_format;
      if (typeof body.language === 'string') language = body.language;
    } else {
      throw new ApiError(400, 'send the audio as multipart/form-data with fields file and model', null, 'invalid_content_type');
    }
    if (!audio || audio.length === 0) throw new ApiError(400, 'the file field with audio is required', 'file', 'missing_required_parameter');
    checkModel({ model });
    if (!['json', 'text', 'verbose_json'].includes(responseFormat)) {
      throw new ApiError(400, "response_format must be 'json', 'text' or 'verbose_json'", 'response_format', 'invalid_value');
    }
    maybeFail();
    const text = await transcriptFor(filename);
    const words = Math.max(1, countTokens(text));
    // Decoding a transcript takes as long as generating its tokens, and holds a sequence slot meanwhile.
    await new Promise<void>((resolve, reject) => {
      const waiter: SlotWaiter = {
        admit: () => {
          const due = performance.now() + (options.ttftMs + (words - 1) * options.itlMs) * options.slowFactor;
          const task = scheduler.at(due, () => {
            slots.release(waiter);
            resolve();
          });
          res.once('close', () => {
            if (waiter.state === 'running') {
              scheduler.cancel(task);
              slots.release(waiter);
              reject(new Error('client went away'));
            }
          });
        },
      };
      res.once('close', () => {
        if (waiter.state === 'waiting') {
          slots.withdraw(waiter);
          reject(new Error('client went away'));
        }
      });
      slots.acquire(waiter);
    });
    if (responseFormat === 'text') return sendText(res, 200, text, 'text/plain; charset=utf-8');
    if (responseFormat === 'verbose_json') {
      const duration = wavDurationSeconds(audio) ?? 0;
      return sendJson(res, 200, {
        task: 'transcribe',
        language: language ?? 'english',
        duration,
        text,
        segments: [{ id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0, avg_logprob: 0, compression_ratio: 1, no_speech_prob: 0 }],
      });
    }
    sendJson(res, 200, { text });
  }

  async function transcriptFor(filename: string | undefined): Promise<string> {
    if (options.transcriptsDir && filename) {
      const stem = basename(filename, extname(filename));
      try {
        return (await readFile(join(options.transcriptsDir, `${stem}.txt`), 'utf8')).trim();
      } catch {
        // No sidecar for this clip: the fixed transcript stands in.
      }
    }
    return options.transcript;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // TTFT counts from here, as vLLM counts from the request's arrival, so body reading is included.
    const arrival = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    try {
      if (method === 'GET' || method === 'HEAD') {
        switch (path) {
          case '/health':
          case '/v1/health':
            return sendJson(res, 200, { status: 'ok' });
          case '/v1/models':
            return sendJson(res, 200, {
              object: 'list',
              data: [{ id: modelName, object: 'model', created, owned_by: 'catapult', root: modelName, parent: null }],
            });
          case '/metrics':
            return sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
          default:
            if (path.startsWith('/v1/models/')) {
              const id = decodeURIComponent(path.slice('/v1/models/'.length));
              if (id === modelName) return sendJson(res, 200, { id: modelName, object: 'model', created, owned_by: 'catapult' });
              throw new ApiError(404, `The model \`${id}\` does not exist.`, 'model', 'model_not_found');
            }
            throw new ApiError(404, `no route for ${method} ${path}`, null, 'not_found');
        }
      }
      if (method !== 'POST') throw new ApiError(405, `method ${method} is not allowed on ${path}`, null, 'method_not_allowed');
      const raw = await readBody(req, options.maxBodyBytes);
      switch (path) {
        case '/v1/chat/completions':
        case '/v1/completions': {
          const body = parseJson(raw);
          checkModel(body);
          const gen = path === '/v1/completions' ? parseCompletion(body) : parseChat(body);
          maybeFail();
          return generate(gen, res, arrival);
        }
        case '/v1/embeddings':
          return await embeddings(parseJson(raw), res);
        case '/v1/audio/transcriptions':
          return await transcriptions(req, raw, res);
        default:
          throw new ApiError(404, `no route for ${method} ${path}`, null, 'not_found');
      }
    } catch (err) {
      if (err instanceof ApiError) return sendError(res, err);
      if (err instanceof BodyTooLargeError) return sendError(res, new ApiError(413, err.message, null, 'body_too_large'));
      if (res.destroyed) return;
      log?.error({ err }, 'simulator request failed');
      sendError(res, new ApiError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  const server: Server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
    void handle(req, res);
  });
  // Streams may last minutes; Node's default request timeout (5 min) would cut long generations.
  server.requestTimeout = 0;
  const port = await listen(server, p ?? 0, host);
  log?.info({ model: modelName, port }, 'simulator ready');

  return {
    url: baseUrl(host, port),
    port,
    options: { ...options, modelName },
    load: () => ({ running: slots.running, waiting: slots.waiting }),
    async close() {
      for (const abort of [...active]) abort();
      scheduler.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function parseJson(raw: Buffer): Json {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError(400, 'the request body is not valid JSON', null, 'invalid_json');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'the request body must be a JSON object', null, 'invalid_json');
  }
  return body as Json;
}

function optionalInt(body: Json, key: string, min: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ApiError(400, `${key} must be an integer of at least ${min}`, key, 'invalid_value');
  }
  return v;
}

function commonGeneration(body: Json, maxKeys: string[]): Omit<GenerationRequest, 'kind' | 'promptTokens' | 'promptWords' | 'promptHash'> {
  let maxTokens: number | undefined;
  for (const k of maxKeys) maxTokens ??= optionalInt(body, k, 1);
  const n = optionalInt(body, 'n', 1);
  if (n !== undefined && n !== 1) throw new ApiError(400, 'the simulator generates one choice per request; n must be 1', 'n', 'invalid_value');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw new ApiError(400, 'stream must be a boolean', 'stream', 'invalid_type');
  }
  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) {
    throw new ApiError(400, 'stream_options must be an object', 'stream_options', 'invalid_type');
  }
  const includeUsage = !!so && (so as Json).include_usage === true;
  const seed = body.seed === undefined || body.seed === null ? undefined : body.seed;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) throw new ApiError(400, 'seed must be an integer', 'seed', 'invalid_type');
  const minTokens = optionalInt(body, 'min_tokens', 0) ?? 0;
  if (maxTokens !== undefined && minTokens > maxTokens) {
    throw new ApiError(400, 'min_tokens must not exceed max_tokens', 'min_tokens', 'invalid_value');
  }
  return {
    maxTokens,
    minTokens,
    ignoreEos: body.ignore_eos === true,
    stream: body.stream === true,
    includeUsage: body.stream === true && includeUsage,
    seed,
  };
}

function parseChat(body: Json): GenerationRequest {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ApiError(400, 'messages must be a non-empty array', 'messages', messages === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  let promptTokens = CHAT_REPLY_PRIMER_TOKENS;
  let text = '';
  messages.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as Json).role !== 'string') {
      throw new ApiError(400, `messages[${i}] must be an object with a role`, `messages[${i}]`, 'invalid_type');
    }
    const content = (m as Json).content;
    let part = '';
    if (typeof content === 'string') part = content;
    else if (Array.isArray(content)) {
      for (const c of content as unknown[]) {
        if (typeof c === 'object' && c !== null && (c as Json).type === 'text' && typeof (c as Json).text === 'string') part += `${(c as Json).text as string} `;
      }
    } else if (content !== null && content !== undefined) {
      throw new ApiError(400, `messages[${i}].content must be a string or an array of content parts`, `messages[${i}].content`, 'invalid_type');
    }
    promptTokens += CHAT_TOKENS_PER_MESSAGE + countTokens(part);
    text += `${(m as Json).role as string}: ${part}\n`;
  });
  return {
    kind: 'chat',
    promptTokens,
    promptWords: tokenize(text.replace(/^\w+: /gm, '')),
    promptHash: hashString(text),
    ...commonGeneration(body, ['max_completion_tokens', 'max_tokens']),
  };
}

function parseCompletion(body: Json): GenerationRequest {
  const prompt = body.prompt;
  let text: string;
  let promptTokens: number;
  if (typeof prompt === 'string') {
    text = prompt;
    promptTokens = countTokens(prompt);
  } else if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') {
    text = prompt[0];
    promptTokens = countTokens(text);
  } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => Number.isInteger(t))) {
    text = prompt.join(' ');
    promptTokens = prompt.length;
  } else if (Array.isArray(prompt) && prompt.length > 1) {
    throw new ApiError(400, 'the simulator takes one prompt per request; send a string', 'prompt', 'invalid_value');
  } else {
    throw new ApiError(400, 'prompt must be a string (or one token array)', 'prompt', prompt === undefined ? 'missing_required_parameter' : 'invalid_type');
  }
  return {
    kind: 'completion',
    promptTokens,
    promptWords: tokenize(text),
    promptHash: hashString(text),
    ...commonGeneration(body, ['max_tokens']),
  };
}

function embeddingInputs(input: unknown): { key: string; tokens: number }[] {
  const bad = (): never => {
    throw new ApiError(400, 'input must be a string, an array of strings, or token arrays', 'input', input === undefined ? 'missing_required_parameter' : 'invalid_type');
  };
  if (typeof input === 'string') return [{ key: input, tokens: countTokens(input) }];
  if (!Array.isArray(input) || input.length === 0) return bad();
  if (input.every((v) => typeof v === 'string')) return input.map((s) => ({ key: s, tokens: countTokens(s) }));
  if (input.every((v) => Number.isInteger(v))) return [{ key: `tokens:${input.join(',')}`, tokens: input.length }];
  if (input.every((v) => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t)))) {
    return (input as number[][]).map((t) => ({ key: `tokens:${t.join(',')}`, tokens: t.length }));
  }
  return bad();
}

/** A unit vector derived from the input alone (and the seed): equal inputs embed equally. */
export function embeddingVector(key: string, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed, hashString(key));
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = rng.normal();
    v[i] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dim; i++) v[i] = v[i]! * scale;
  return v;
}

/** Duration of a PCM WAV file from its header; undefined for anything else. */
function wavDurationSeconds(audio: Buffer): number | undefined {
  if (audio.length < 44 || audio.toString('latin1', 0, 4) !== 'RIFF' || audio.toString('latin1', 8, 12) !== 'WAVE') return undefined;
  let pos = 12;
  let byteRate = 0;
  while (pos + 8 <= audio.length) {
    const id = audio.toString('latin1', pos, pos + 4);
    const size = audio.readUInt32LE(pos + 4);
    if (id === 'fmt ' && pos + 16 <= audio.length) byteRate = audio.readUInt32LE(pos + 16);
    if (id === 'data') return byteRate > 0 ? Math.min(size, audio.length - pos - 8) / byteRate : undefined;
    pos += 8 + size + (size % 2);
  }
  return undefined;
}
