import { performance } from 'node:perf_hooks';
import { HttpPool, buildRequest } from './http.js';
import { Exchange, type ExchangeHost, type Reading, httpKind } from './exchange.js';
import { type ShardStage, phaseOf } from './plan.js';
import { type ErrorKind, type RecordWriter, type RequestRecord, type TokenSource, compact } from './records.js';
import { type Slo, type StageAggregate, addRecord, newStageAggregate } from './summary.js';
import { countTokens, loadTokenizer } from './tokens.js';
import { scoreUtterance } from './wer.js';
import type { Histogram } from './stats.js';

/** The request APIs a workload can speak. */
export const WORKLOAD_APIS = ['openai-chat', 'openai-completions', 'kserve-v2', 'asr-transcriptions', 'http'] as const;
export type WorkloadApi = (typeof WORKLOAD_APIS)[number];

/**
 * One dataset item made ready to send: the request line and body are built once, before the run,
 * so the hot path only copies bytes.
 */
export interface PreparedItem {
  id: string;
  method: 'GET' | 'POST' | 'PUT';
  /** Appended to the target's base URL. */
  path: string;
  contentType: string | null;
  body: Buffer | null;
  /** Prompt tokens by our tokenizer, used when the server reports no usage. */
  promptTokens: number | null;
  /** Output tokens asked for. */
  maxTokens: number | null;
  /** Reference transcript (ASR). */
  reference: string | null;
  audioSeconds: number | null;
}

export interface EngineTarget {
  /** Base URL, e.g. http://127.0.0.1:8000 (a path prefix is kept). */
  baseUrl: string;
  headers: Record<string, string>;
}

export interface ShardProgress {
  stage: number;
  stages: number;
  stageLabel: string;
  /** Requests finished in the current stage (any outcome, warmup and cooldown included). */
  done: number;
  /** Of those, the measured requests sent: what the results will count as `sent`. */
  sent: number;
  /** Of those, warmup and cooldown requests (recorded, not measured). */
  excluded: number;
  /** Requests this shard will send in the stage, when known. */
  total: number | null;
  /** How long the stage sends for, when its stop rule has a duration. */
  durationS: number | null;
  errors: number;
  inFlight: number;
  elapsedS: number;
  /**
   * Successful measured requests per second since the stage's first measured request: the results'
   * `throughput.requestsPerS` as it stands now, so the live rate and the final one are one measure.
   */
  ratePerS: number;
  outputTokens: number;
  /** The final counts of the stages already finished, by stage index, so a display can close them. */
  finished: StageCounts[];
  /** The stage's measured TTFT and E2E so far. */
  ttft: Histogram;
  e2e: Histogram;
}

/** A finished stage's counts, as its last progress report would have shown them. */
export interface StageCounts {
  stage: number;
  done: number;
  sent: number;
  excluded: number;
  errors: number;
}

export interface EngineOptions {
  api: WorkloadApi;
  /** Stream (SSE) for the OpenAI APIs. */
  stream: boolean;
  timeoutMs: number;
  slo: Slo;
  shard: number;
  stages: ShardStage[];
  items: readonly PreparedItem[];
  target: EngineTarget;
  /** Epoch ms every client starts at; default now. */
  startAt?: number;
  records?: RecordWriter;
  onProgress?: (p: ShardProgress) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
  /** Clock for startAt (epoch ms); tests may shift it. */
  now?: () => number;
}

export interface EngineResult {
  aggregates: StageAggregate[];
  records: number;
  /** Why the run ended before its stop rule, if it did. */
  interrupted: string | null;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The load generator of one client (shard). Open-loop stages send each request at its scheduled
 * offset and measure from that intended time, so a slow server shows as latency and schedule lag
 * rather than as a lighter load (no coordinated omission); arrivals beyond the in-flight cap are
 * dropped and counted. Closed-loop stages keep a fixed number of requests in flight. Every request
 * becomes a RequestRecord (written to the records file) and is added to its stage's aggregate.
 */
export class LoadEngine implements ExchangeHost {
  private readonly o: EngineOptions;
  private readonly now: () => number;
  private stagePool: HttpPool | undefined;
  private readonly inFlight = new Set<Exchange>();
  private readonly prefix: string;
  private readonly origin: string;
  /** Each dataset item's request, as the bytes sent. */
  private readonly requests: Buffer[] = [];
  private t0 = 0;
  private stopped: string | null = null;
  private current: StageAggregate | undefined;
  private stageIndex = 0;
  private readonly finished: StageCounts[] = [];
  private done = 0;
  private errors = 0;
  private outputTokens = 0;
  private stageStartedAt = 0;
  /** For exchanges: the current stage's start, whether answers stream, whether they are chat. */
  get stageStart(): number {
    return this.stageStartedAt;
  }
  readonly streaming: boolean;
  readonly chat: boolean;
  readonly timeoutMs: number;
  private stageTotal: number | null = null;
  private stageDurationS: number | null = null;
  private records = 0;
  private wakeStage: (() => void) | undefined;
  private readonly asr: boolean;
  private readonly openai: boolean;

  constructor(options: EngineOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    const url = new URL(options.target.baseUrl);
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.asr = options.api === 'asr-transcriptions';
    this.openai = options.api === 'openai-chat' || options.api === 'openai-completions';
    this.streaming = this.openai && options.stream;
    this.chat = options.api === 'openai-chat';
    this.timeoutMs = options.timeoutMs;
    const base = Object.entries(options.target.headers).map(([k, v]): [string, string] => [k.toLowerCase(), v]);
    for (const item of options.items) {
      const headers: [string, string][] = item.contentType ? [...base, ['content-type', item.contentType]] : base;
      this.requests.push(buildRequest(item.method, this.prefix + item.path, url.host, headers, item.body));
    }
    if (options.items.length === 0) throw new Error('a run needs at least one dataset item');
  }

  private newPool(connections: number): HttpPool {
    return new HttpPool(this.origin, connections, 10_000);
  }

  /** Runs every stage; resolves when the last request has finished. */
  async run(): Promise<EngineResult> {
    if (this.openai) await loadTokenizer();
    const startAt = this.o.startAt ?? this.now();
    // One time base for all clients: performance.now() at the agreed epoch start.
    this.t0 = performance.now() + (startAt - this.now());
    const onAbort = () => this.stop('cancelled');
    this.o.signal?.addEventListener('abort', onAbort, { once: true });
    const sweep = setInterval(() => this.expire(), 50);
    const progress = this.o.onProgress ? setInterval(() => this.report(), this.o.progressEveryMs ?? 500) : undefined;
    const aggregates: StageAggregate[] = [];
    try {
      const wait = this.t0 - performance.now();
      if (wait > 0) await this.sleep(wait);
      for (const shardStage of this.o.stages) {
        const agg = newStageAggregate(shardStage.stage.index, shardStage.stage.label);
        aggregates.push(agg);
        if (this.stopped) continue;
        await this.runStage(shardStage, agg);
        this.finished.push({ stage: shardStage.stage.index, done: this.done, sent: agg.sent, excluded: agg.excluded, errors: this.errors });
      }
    } finally {
      clearInterval(sweep);
      if (progress) clearInterval(progress);
      this.o.signal?.removeEventListener('abort', onAbort);
      this.report();
      this.stagePool?.close();
      await this.o.records?.flush();
    }
    return { aggregates, records: this.records, interrupted: this.stopped };
  }

  /** Ends the run: no more requests are sent and those in flight are aborted (recorded as `cancelled`). */
  stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = reason;
    for (const x of this.inFlight) x.abort('cancelled', reason);
    this.wakeStage?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined = undefined;
      const done = (): void => {
        clearTimeout(t);
        this.wakeStage = undefined;
        resolve();
      };
      t = setTimeout(done, ms);
      this.wakeStage = done;
    });
  }

  /** Milliseconds since the run's start time (exchanges time their events with it too). */
  elapsed(): number {
    return performance.now() - this.t0;
  }

  private async runStage(s: ShardStage, agg: StageAggregate): Promise<void> {
    this.current = agg;
    this.stageIndex = s.stage.index;
    this.done = 0;
    this.errors = 0;
    this.outputTokens = 0;
    const stageStart = this.elapsed();
    this.stageStartedAt = stageStart;
    this.stageDurationS = s.stage.durationMs === null ? null : s.stage.durationMs / 1000;
    const finished = new Promise<void>((resolve) => (this.stageResolve = resolve));
    const previous = this.stagePool;
    this.stagePool = this.newPool(s.concurrency ?? (s.stage.load.mode === 'open' ? s.stage.load.maxInFlight : 1));
    previous?.close();
    if (s.arrivals) {
      this.stageTotal = s.arrivals.index.length;
      this.pending = this.stageTotal;
      if (this.pending === 0) return;
      await this.openLoop(s, agg, stageStart);
    } else {
      this.stageTotal = s.maxRequests;
      this.closedLoop(s, agg, stageStart);
    }
    await finished;
    this.stageResolve = undefined;
  }

  private stageResolve: (() => void) | undefined;
  /** Open loop: arrivals not yet finished (sent-and-done or dropped). Closed loop: requests in flight. */
  private pending = 0;

  private finishOne(): void {
    this.pending--;
    if (this.pending === 0) this.stageResolve?.();
  }

  private closedLoop(s: ShardStage, agg: StageAggregate, stageStart: number): void {
    const concurrency = s.concurrency ?? 1;
    const durationMs = s.stage.durationMs;
    let k = 0;
    const launch = (): void => {
      const over =
        this.stopped !== null ||
        (s.maxRequests !== null && k >= s.maxRequests) ||
        (durationMs !== null && this.elapsed() - stageStart >= durationMs);
      if (over) {
        if (this.pending === 0) this.stageResolve?.();
        return;
      }
      // Requests are numbered across clients: this client takes every shards-th number.
      const index = k * s.shards + this.o.shard;
      k++;
      this.pending++;
      this.send(s, agg, index, this.elapsed(), next);
    };
    // The freed slot starts its next request at once; its intended time is then.
    const next = (): void => {
      this.pending--;
      launch();
    };
    if (concurrency === 0 || s.maxRequests === 0) {
      this.stageResolve?.();
      return;
    }
    const rampUpMs = s.stage.load.mode === 'closed' ? s.stage.load.rampUpMs : 0;
    if (rampUpMs <= 0) {
      for (let c = 0; c < concurrency; c++) launch();
      return;
    }
    // Slot c opens at c/concurrency of the ramp (this client's slots interleave with the other clients').
    this.pending++;
    let opened = 0;
    const total = concurrency * s.shards;
    const open = (): void => {
      const now = this.elapsed() - stageStart;
      while (opened < concurrency && ((opened * s.shards + this.o.shard) / total) * rampUpMs <= now) {
        opened++;
        launch();
      }
      if (opened < concurrency && this.stopped === null) {
        const next = ((opened * s.shards + this.o.shard) / total) * rampUpMs;
        setTimeout(open, Math.max(0, next - (this.elapsed() - stageStart)));
        return;
      }
      // The ramp's own hold on the stage ends.
      this.pending--;
      if (this.pending === 0) this.stageResolve?.();
    };
    open();
  }

  private async openLoop(s: ShardStage, agg: StageAggregate, stageStart: number): Promise<void> {
    const { index, offsetMs } = s.arrivals!;
    const max = s.stage.load.mode === 'open' ? s.stage.load.maxInFlight : Infinity;
    const finished = (): void => this.finishOne();
    let p = 0;
    while (p < index.length) {
      if (this.stopped) {
        // Arrivals never sent are not records; the run says why it ended.
        this.pending -= index.length - p;
        if (this.pending <= 0) this.stageResolve?.();
        return;
      }
      const now = this.elapsed() - stageStart;
      // Send everything due (a late timer sends the backlog at once; each keeps its intended time).
      while (p < index.length && offsetMs[p]! <= now) {
        const intended = stageStart + offsetMs[p]!;
        if (this.inFlight.size >= max) {
          this.dropped(s, agg, index[p]!, intended);
          this.finishOne();
        } else {
          this.send(s, agg, index[p]!, intended, finished);
        }
        p++;
      }
      if (p >= index.length) break;
      const wait = offsetMs[p]! - (this.elapsed() - stageStart);
      if (wait > 1) await this.sleep(wait - 0.5);
      else await tick();
    }
  }

  private dropped(s: ShardStage, agg: StageAggregate, index: number, intended: number): void {
    const item = this.o.items[index % this.o.items.length]!;
    this.record(agg, {
      i: index,
      shard: this.o.shard,
      stage: s.stage.index,
      item: item.id,
      phase: phaseOf(s.stage, intended - this.stageStartedAt),
      intended,
      sent: intended,
      firstByte: null,
      firstToken: null,
      chunks: [],
      end: intended,
      status: null,
      error: { kind: 'dropped', message: `over the in-flight cap of ${s.stage.load.mode === 'open' ? s.stage.load.maxInFlight : '?'}` },
      inputTokens: null,
      outputTokens: null,
      inputSource: 'none',
      outputSource: 'none',
      text: null,
      reference: item.reference,
      audioSeconds: item.audioSeconds,
      score: null,
    });
  }

  private record(agg: StageAggregate, raw: RequestRecord): void {
    // Rounded to the microsecond first, so the aggregate is exactly what the records file can rebuild.
    const r = compact(raw);
    this.done++;
    this.records++;
    if (r.error) this.errors++;
    else this.outputTokens += r.outputTokens ?? 0;
    addRecord(agg, r, this.o.slo);
    this.o.records?.add(r);
  }

  private send(s: ShardStage, agg: StageAggregate, index: number, intended: number, after: () => void): void {
    const itemIndex = index % this.o.items.length;
    const item = this.o.items[itemIndex]!;
    const x = new Exchange(this, s, agg, index, item, intended, after);
    this.inFlight.add(x);
    x.pool = this.stagePool!;
    x.pool.request(this.requests[itemIndex]!, x);
  }

  /** Called by an exchange when its response has ended, one way or another. */
  settled(x: Exchange, error: { kind: ErrorKind; message: string } | null): void {
    this.inFlight.delete(x);
    const end = this.elapsed();
    const r = x.reading;
    if (!error && x.status !== null && (x.status < 200 || x.status >= 300)) {
      const text = x.bodyText().slice(0, 300);
      error = { kind: httpKind(x.status), message: `HTTP ${x.status}${text ? `: ${text}` : ''}` };
    }
    if (!error && !x.sse) this.readWhole(x.bodyText(), r);
    if (!error && x.sse && x.status !== null && x.status >= 200 && x.status < 300) x.sse.end(end);
    if (!error && x.sse && !x.sse.done && r.bad === null) r.bad = 'the stream ended without [DONE]';
    if (!error && r.bad !== null) error = { kind: 'bad_response', message: r.bad };
    this.finishRecord(x.agg, x.stage, x.index, x.item, x.phase, x.intended, x.sent, x.firstByte, end, x.status, error, r);
    x.release();
    x.after();
  }

  /** What an aborted exchange ended with. */
  abortError(kind: ErrorKind): { kind: ErrorKind; message: string } {
    return { kind, message: kind === 'timeout' ? `no complete answer within ${this.o.timeoutMs} ms` : (this.stopped ?? 'aborted') };
  }

  /**
   * A non-streamed answer: the whole body arrived at once. It has no time to first token (TTFT is a
   * streaming measure; without a stream it would only repeat E2E), so none is recorded.
   */
  private readWhole(text: string, r: Reading): void {
    const api = this.o.api;
    if (api === 'http') return;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(text) as Record<string, unknown>;
    } catch {
      if (api === 'asr-transcriptions' && text.trim() !== '' && !text.trimStart().startsWith('{')) {
        // response_format=text
        r.text = text.trim();
        return;
      }
      r.bad = `the answer is not JSON: ${text.slice(0, 120)}`;
      return;
    }
    if (api === 'asr-transcriptions') {
      if (typeof obj.text !== 'string') r.bad = 'the transcription answer has no text field';
      else r.text = obj.text;
      return;
    }
    if (api === 'kserve-v2') {
      if (!Array.isArray(obj.outputs)) r.bad = 'the inference answer has no outputs';
      return;
    }
    const choices = obj.choices as { message?: { content?: unknown }; text?: unknown }[] | undefined;
    const c = choices?.[0];
    const content = api === 'openai-chat' ? c?.message?.content : c?.text;
    if (typeof content !== 'string') {
      r.bad = 'the answer has no choices[0] text';
      return;
    }
    r.text = content;
    const u = obj.usage as { prompt_tokens?: unknown; completion_tokens?: unknown } | undefined;
    if (u && typeof u.completion_tokens === 'number') r.outputTokens = u.completion_tokens;
    if (u && typeof u.prompt_tokens === 'number') r.inputTokens = u.prompt_tokens;
  }

  private finishRecord(
    agg: StageAggregate,
    s: ShardStage,
    index: number,
    item: PreparedItem,
    phase: RequestRecord['phase'],
    intended: number,
    sent: number,
    firstByte: number | null,
    end: number,
    status: number | null,
    error: { kind: ErrorKind; message: string } | null,
    r: Reading,
  ): void {
    let outputSource: TokenSource = 'none';
    let inputSource: TokenSource = 'none';
    let outputTokens: number | null = null;
    let inputTokens: number | null = null;
    if (!error && this.openai) {
      if (r.outputTokens !== null) {
        outputTokens = r.outputTokens;
        outputSource = 'usage';
      } else {
        outputTokens = countTokens(r.text);
        outputSource = 'tokenizer';
      }
      if (r.inputTokens !== null) {
        inputTokens = r.inputTokens;
        inputSource = 'usage';
      } else if (item.promptTokens !== null) {
        inputTokens = item.promptTokens;
        inputSource = 'tokenizer';
      }
    }
    const asrText = this.asr && !error ? r.text : null;
    const score = asrText !== null && item.reference !== null ? scoreUtterance(item.id, item.reference, asrText) : null;
    this.record(agg, {
      i: index,
      shard: this.o.shard,
      stage: s.stage.index,
      item: item.id,
      phase,
      intended,
      sent,
      firstByte,
      firstToken: error ? null : r.firstToken,
      chunks: error ? [] : r.chunks,
      end,
      status,
      error,
      inputTokens,
      outputTokens,
      inputSource,
      outputSource,
      text: asrText,
      reference: item.reference,
      audioSeconds: item.audioSeconds,
      score: score ? { words: { hits: score.word.hits, substitutions: score.word.substitutions, deletions: score.word.deletions, insertions: score.word.insertions, referenceLength: score.word.referenceLength }, chars: score.char, wer: score.wer, ops: score.word.ops } : null,
    });
  }

  /** Aborts requests past their deadline. */
  private expire(): void {
    const now = this.elapsed();
    for (const x of this.inFlight) {
      if (x.deadline <= now && x.abortKind === null) x.abort('timeout', 'timeout');
    }
  }

  private report(): void {
    const agg = this.current;
    if (!agg || !this.o.onProgress) return;
    const now = this.elapsed();
    const windowS = agg.firstIntended === null ? 0 : (now - agg.firstIntended) / 1000;
    const rate = windowS > 0 ? agg.ok / windowS : 0;
    this.o.onProgress({
      stage: this.stageIndex,
      stages: this.o.stages.length,
      stageLabel: agg.label,
      done: this.done,
      sent: agg.sent,
      excluded: agg.excluded,
      total: this.stageTotal,
      durationS: this.stageDurationS,
      errors: this.errors,
      inFlight: this.inFlight.size,
      elapsedS: Math.max(0, (this.elapsed() - this.stageStartedAt) / 1000),
      ratePerS: rate,
      outputTokens: this.outputTokens,
      finished: this.finished.slice(),
      ttft: agg.hist.ttft,
      e2e: agg.hist.e2e,
    });
  }
}
