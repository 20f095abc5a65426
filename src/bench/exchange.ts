import { StringDecoder } from 'node:string_decoder';
import { SseParser } from '../sse/index.js';
import type { HttpPool, ResponseHandler } from './http.js';
import { type ShardStage, phaseOf } from './plan.js';
import type { ErrorKind, RequestRecord } from './records.js';
import type { StageAggregate } from './summary.js';
import type { PreparedItem } from './engine.js';

/**
 * One request of the load engine in flight: the undici handler that times its response and reads
 * it (a token stream through the shared SSE parser, or a whole body), then hands it back to the
 * engine that sent it.
 */

/** What an exchange needs of the engine that sent it. */
export interface ExchangeHost {
  /** The current stage's start (ms from the run's start). */
  readonly stageStart: number;
  /** Whether answers stream (SSE), and whether they are chat completions. */
  readonly streaming: boolean;
  readonly chat: boolean;
  readonly timeoutMs: number;
  /** Milliseconds since the run's start time. */
  elapsed(): number;
  abortError(kind: ErrorKind): { kind: ErrorKind; message: string };
  settled(x: Exchange, error: { kind: ErrorKind; message: string } | null): void;
}

/** What the response of one API is read for. */
export interface Reading {
  firstToken: number | null;
  chunks: number[];
  text: string;
  inputTokens: number | null;
  outputTokens: number | null;
  bad: string | null;
}

/**
 * Reads one streamed OpenAI response: SSE events in order, the arrival time of each one that carries
 * generated text, and the `usage` the server sends at the end (requested with
 * `stream_options.include_usage`). Events split across network chunks are joined; several events in
 * one chunk share its arrival time, which is what the client saw. Framing (CRLF, LF or CR line ends,
 * comments, a last event without its blank line) is the shared parser's business.
 */
export class SseReader {
  private readonly decoder = new StringDecoder('utf8');
  private readonly parser: SseParser;
  /** The arrival time of the chunk being parsed. */
  private at = 0;
  done = false;

  constructor(
    private readonly chat: boolean,
    private readonly r: Reading,
  ) {
    this.parser = new SseParser((ev) => this.event(ev.data));
  }

  push(chunk: Buffer, at: number): void {
    this.at = at;
    this.parser.push(this.decoder.write(chunk));
  }

  /** The response has ended: a last event without its blank line still counts (at `at`). */
  end(at: number): void {
    this.at = at;
    const rest = this.decoder.end();
    if (rest) this.parser.push(rest);
    this.parser.end();
  }

  private event(data: string): void {
    const at = this.at;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    let obj: { choices?: { delta?: { content?: unknown; reasoning_content?: unknown }; text?: unknown }[]; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null; error?: unknown };
    try {
      obj = JSON.parse(data) as typeof obj;
    } catch {
      this.r.bad ??= `an SSE event is not JSON: ${data.slice(0, 120)}`;
      return;
    }
    if (obj.error !== undefined) {
      this.r.bad ??= `the stream carried an error: ${JSON.stringify(obj.error).slice(0, 200)}`;
      return;
    }
    const choice = obj.choices?.[0];
    if (choice) {
      const piece = this.chat ? (choice.delta?.content ?? choice.delta?.reasoning_content) : choice.text;
      if (typeof piece === 'string' && piece !== '') {
        if (this.r.firstToken === null) this.r.firstToken = at;
        this.r.chunks.push(at);
        this.r.text += piece;
      }
    }
    const u = obj.usage;
    if (u && typeof u.completion_tokens === 'number') {
      this.r.outputTokens = u.completion_tokens;
      if (typeof u.prompt_tokens === 'number') this.r.inputTokens = u.prompt_tokens;
    }
  }
}

function classify(err: unknown): { kind: ErrorKind; message: string } {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  const message = e?.message ?? String(err);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'CONNECT_TIMEOUT' || code === 'EAI_AGAIN') return { kind: 'connect', message: `${code}: ${message}` };
  if (code === 'BAD_RESPONSE' || code === 'UNEXPECTED_RESPONSE') return { kind: 'bad_response', message };
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return { kind: 'reset', message: `${code}: ${message}` };
  return { kind: 'error', message: code ? `${code}: ${message}` : message };
}

export function httpKind(status: number): ErrorKind {
  if (status === 429) return 'http_429';
  return status >= 500 ? 'http_5xx' : 'http_4xx';
}

/**
 * One request in flight and the undici handler for its response: one object per request, so the hot
 * path allocates no closures.
 */
export class Exchange implements ResponseHandler {
  /** The pool it was sent on, until it ends. */
  pool: HttpPool | null = null;
  readonly deadline: number;
  /** Set when the run ends or the request times out, before aborting it. */
  abortKind: ErrorKind | null = null;
  readonly reading: Reading = { firstToken: null, chunks: [], text: '', inputTokens: null, outputTokens: null, bad: null };
  readonly sse: SseReader | null;
  readonly phase: RequestRecord['phase'];
  readonly sent: number;
  status: number | null = null;
  firstByte: number | null = null;
  private body: Buffer | Buffer[] | null = null;
  private text: string | null = null;
  private done = false;

  constructor(
    private readonly engine: ExchangeHost,
    readonly stage: ShardStage,
    readonly agg: StageAggregate,
    readonly index: number,
    readonly item: PreparedItem,
    readonly intended: number,
    readonly after: () => void,
  ) {
    this.phase = phaseOf(stage.stage, intended - engine.stageStart);
    this.sse = engine.streaming ? new SseReader(engine.chat, this.reading) : null;
    this.sent = engine.elapsed();
    this.deadline = this.sent + engine.timeoutMs;
  }

  onHeaders(status: number): void {
    this.status = status;
    this.firstByte = this.engine.elapsed();
  }

  onData(chunk: Buffer): void {
    if (this.sse && this.status !== null && this.status >= 200 && this.status < 300) {
      this.sse.push(chunk, this.engine.elapsed());
      return;
    }
    if (this.body === null) this.body = chunk;
    else if (Array.isArray(this.body)) this.body.push(chunk);
    else this.body = [this.body, chunk];
  }

  onEnd(): void {
    this.settle(null);
  }

  onError(err: Error & { code?: string }): void {
    this.settle(this.abortKind ? this.engine.abortError(this.abortKind) : classify(err));
  }

  /** Aborts the request; it then ends with `kind`. */
  abort(kind: ErrorKind, reason: string): void {
    this.abortKind ??= kind;
    this.pool?.abort(this, new Error(reason));
  }

  /**
   * The answer as text. The chunks are let go here: each is a slice of a socket read buffer, and
   * undici keeps finished requests (and so their handlers) queued for a while.
   */
  bodyText(): string {
    if (this.text !== null) return this.text;
    const b = this.body;
    this.body = null;
    this.text = b === null ? '' : (Array.isArray(b) ? Buffer.concat(b) : b).toString('utf8');
    return this.text;
  }

  /** Lets go of what the record no longer needs (see bodyText). */
  release(): void {
    this.body = null;
    this.text = null;
    this.pool = null;
  }

  settle(error: { kind: ErrorKind; message: string } | null): void {
    if (this.done) return;
    this.done = true;
    this.engine.settled(this, error);
  }
}

