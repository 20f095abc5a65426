import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Logger } from '../observability/index.js';
import { type BalanceOptions, choose } from './balancer.js';
import { usageFrom } from './body.js';
import type { OutlierDetector } from './health.js';
import type { GatewayMetrics } from './metrics.js';
import { type ErrorFormat, type GatewayError, errors, sendError } from './respond.js';
import type { KeyEntry, Member, TableRoute } from './table.js';
import type { Upstream } from './upstream.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the client's credentials never travel upstream. */
const DROP_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'authorization',
  'api-key',
]);

const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** Errors that mean the connection never opened, so the request was certainly not sent. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TIMEOUT_ERRORS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export type FailureKind = 'connect' | 'reset' | 'timeout';

function failureKind(err: Error): FailureKind {
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_ERRORS.has(code)) return 'connect';
  if (TIMEOUT_ERRORS.has(code)) return 'timeout';
  return 'reset';
}

/** What the request path shares: everything but the request itself. */
export interface ExchangeContext {
  metrics: GatewayMetrics;
  detector: OutlierDetector;
  log: Logger;
  accessLog: boolean;
  maxRetries: number;
  balance: BalanceOptions;
  /** Wall-clock ms, for rate-limit windows. */
  now: () => number;
  /** The route as the table holds it now (a retry sees replicas that joined or left meanwhile). */
  current: (id: string) => TableRoute | undefined;
}

export interface ExchangeInit {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  format: ErrorFormat;
  /** The API route label for metrics (e.g. `/v1/chat/completions`). */
  apiRoute: string;
  entry: TableRoute;
  key: KeyEntry;
  method: string;
  /** Path and query as sent upstream, before the replica's base path. */
  path: string;
  body: Buffer | null;
  stream: boolean;
  affinityKey: string | null;
  /** Whether the request may be sent again after its connection broke (inference: no side effects). */
  retryAfterSend: boolean;
  /** Count tokens from the response (OpenAI routes). */
  countTokens: boolean;
  /** Prompt-token estimate when the response carries no usage. */
  promptEstimate: number;
  started: number;
}

/**
 * One client request on its way through the gateway: picks a replica, sends, streams the answer
 * back chunk by chunk, and on failure decides between another replica and an error.
 *
 * Retries (at most `maxRetries`, each on a replica not yet tried) happen only while nothing has been
 * sent to the client: after a connect failure; after the connection broke before any response for
 * inference requests (side-effect free); after a 502 or 503 answer, whose body is discarded.
 */
export class Exchange {
  private readonly tried: Upstream[] = [];
  private attempt: Attempt | undefined;
  private retries = 0;
  /** Response headers have gone to the client: from here on, no retry. */
  responded = false;
  private finished = false;
  clientGone = false;
  private status = 0;
  private firstByteAt = 0;
  private events = 0;
  private tail: Buffer[] = [];
  private member: Member | undefined;
  private readonly headers: Record<string, string>;
  private drainHooked = false;
  private lastFailure: FailureKind | 'status' | undefined;

  constructor(
    private readonly ctx: ExchangeContext,
    readonly init: ExchangeInit,
  ) {
    this.headers = upstreamHeaders(init.req, init.id, init.entry.route.upstreamHeaders);
    init.res.once('close', () => {
      if (this.finished) return;
      this.clientGone = true;
      this.attempt?.abort();
    });
  }

  start(): void {
    this.send();
  }

  private send(): void {
    const entry = this.tried.length === 0 ? this.init.entry : (this.ctx.current(this.init.entry.route.id) ?? this.init.entry);
    const now = performance.now();
    const choice = choose(entry.ready, now, this.tried.length > 0 ? this.tried : null, this.init.affinityKey, this.ctx.balance);
    if (!choice) {
      const message =
        entry.ready.length === 0
          ? `The model '${entry.route.name}' has no ready replica right now.`
          : `Every replica of '${entry.route.name}' failed for this request.`;
      this.fail(entry.ready.length === 0 || this.lastFailure === 'connect' || this.lastFailure === 'status' ? errors.unavailable(message) : errors.badGateway(message));
      return;
    }
    if (choice.affinity !== 'none' && this.tried.length === 0) this.ctx.metrics.affinity.inc({ deployment: entry.route.name, outcome: choice.affinity });
    const member = choice.member;
    const u = member.upstream;
    this.member = member;
    this.tried.push(u);
    u.outstanding++;
    const attempt = new Attempt(this, member, now);
    this.attempt = attempt;
    const opts: Dispatcher.DispatchOptions = {
      path: u.basePath + this.init.path,
      method: this.init.method,
      headers: this.headers,
      body: this.init.body,
    };
    try {
      u.pool.dispatch(opts, attempt);
    } catch (err) {
      // A closed pool (the replica just left the table) throws synchronously: treat as a connect failure.
      attempt.onResponseError(undefined, Object.assign(err as Error, { code: 'ECONNREFUSED' }));
    }
  }

  /** From the attempt: the upstream answered with headers. Returns false to discard this answer and retry. */
  responseStart(attempt: Attempt, status: number, headers: IncomingHttpHeaders): boolean {
    if ((status === 502 || status === 503) && this.canRetry()) return false;
    const { res } = this.init;
    if (this.clientGone || res.destroyed) return true;
    this.status = status;
    this.responded = true;
    const out: OutgoingHttpHeaders = {};
    for (const name in headers) if (!DROP_RESPONSE.has(name)) out[name] = headers[name];
    out['x-request-id'] = this.init.id;
    out['x-catapult-replica'] = attempt.member.id;
    res.writeHead(status, out);
    // An event stream's headers go now; a plain answer's go with its first body bytes (one packet).
    const type = headers['content-type'];
    if (this.init.stream || (typeof type === 'string' && type.startsWith('text/event-stream'))) res.flushHeaders();
    return true;
  }

  data(attempt: Attempt, chunk: Buffer, controller: Dispatcher.DispatchController): void {
    const { res } = this.init;
    if (this.firstByteAt === 0) {
      this.firstByteAt = performance.now();
      attempt.member.upstream.sample(this.firstByteAt - attempt.started, this.firstByteAt);
      if (this.init.stream && this.status < 400) this.ctx.metrics.firstToken(this.init.entry.route.name).observe((this.firstByteAt - this.init.started) / 1000);
    }
    if (this.init.countTokens) {
      if (this.init.stream) this.events += countEvents(chunk);
      this.tail.push(chunk);
      if (this.tail.length > 3) this.tail.shift();
    }
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      controller.pause();
      if (!this.drainHooked) {
        this.drainHooked = true;
        res.on('drain', () => this.attempt?.resume());
      }
    }
  }

  /** From the attempt: it is over, with an error or not. */
  attemptDone(attempt: Attempt, err: Error | undefined, discarded: boolean): void {
    const u = attempt.member.upstream;
    u.outstanding--;
    const name = this.init.entry.route.name;
    const metrics = this.ctx.metrics;
    if (this.clientGone || this.init.res.destroyed) {
      this.clientGone = true;
      this.finish(499);
      return;
    }
    if (err) {
      const kind = failureKind(err);
      this.lastFailure = kind;
      metrics.upstreamErrors.inc({ deployment: name, kind: this.responded ? 'aborted_mid_response' : kind });
      const now = performance.now();
      u.sample(Math.max(now - attempt.started, u.latency(now) * 2), now);
      this.ctx.detector.failure(u);
      if (this.responded) {
        // Part of the answer is already with the client: cut the connection so it cannot mistake it for all of it.
        this.init.res.destroy(err);
        this.finish(this.status, kind);
        return;
      }
      const retryable = kind === 'connect' || (kind === 'reset' && this.init.retryAfterSend);
      if (retryable && this.canRetry()) {
        this.retry(kind);
        return;
      }
      this.fail(
        kind === 'timeout'
          ? errors.gatewayTimeout(`The replica serving '${name}' did not answer in time.`)
          : errors.badGateway(`The replica serving '${name}' failed: ${kind === 'connect' ? 'connection refused' : 'connection closed before an answer'}.`),
        kind,
      );
      return;
    }
    if (discarded) {
      this.lastFailure = 'status';
      metrics.upstreamErrors.inc({ deployment: name, kind: 'status_5xx' });
      this.ctx.detector.failure(u);
      this.retry(`status_${attempt.status}`);
      return;
    }
    if (this.firstByteAt === 0) u.sample(performance.now() - attempt.started, performance.now());
    if (attempt.status >= 500) {
      metrics.upstreamErrors.inc({ deployment: name, kind: 'status_5xx' });
      this.ctx.detector.failure(u);
    } else {
      this.ctx.detector.success(u);
    }
    this.init.res.end();
    this.finish(this.status);
  }

  resumeAfterDrain(): void {
    this.attempt?.resume();
  }

  private canRetry(): boolean {
    return this.retries < this.ctx.maxRetries && !this.clientGone && !this.responded;
  }

  private retry(reason: string): void {
    this.retries++;
    this.ctx.metrics.retries.inc({ deployment: this.init.entry.route.name, reason });
    this.firstByteAt = 0;
    this.tail = [];
    this.events = 0;
    this.send();
  }

  private fail(err: GatewayError, failure?: string): void {
    sendError(this.init.res, this.init.format, err, this.init.id);
    this.finish(err.status, failure);
  }

  private finish(status: number, failure?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.attempt = undefined;
    const { init, ctx } = this;
    const name = init.entry.route.name;
    const elapsed = performance.now() - init.started;
    ctx.metrics.request(name, init.apiRoute, status).inc();
    ctx.metrics.latency(name, init.apiRoute).observe(elapsed / 1000);
    let tokensIn = 0;
    let tokensOut = 0;
    if (init.countTokens && status < 400 && status > 0) {
      const usage = this.tail.length > 0 ? usageFrom(this.tail.length === 1 ? this.tail[0]! : Buffer.concat(this.tail)) : undefined;
      if (usage) {
        tokensIn = usage.prompt;
        tokensOut = usage.completion;
      } else if (init.stream) {
        // No usage in the stream (the client did not ask for it): one event per token, less the [DONE] marker.
        tokensIn = init.promptEstimate;
        tokensOut = Math.max(0, this.events - 1);
      }
      if (tokensIn > 0) ctx.metrics.tokensFor(name, 'in').inc(tokensIn);
      if (tokensOut > 0) ctx.metrics.tokensFor(name, 'out').inc(tokensOut);
      if (init.key.tpm && tokensIn + tokensOut > 0) init.key.tpm.add(ctx.now(), tokensIn + tokensOut);
    }
    if (ctx.accessLog) {
      ctx.log.info(
        {
          id: init.id,
          method: init.method,
          path: init.req.url,
          status,
          deployment: name,
          replica: this.member?.id ?? null,
          key: init.key.id,
          ms: Math.round(elapsed * 100) / 100,
          ...(init.stream && this.firstByteAt > 0 ? { ttftMs: Math.round((this.firstByteAt - init.started) * 100) / 100 } : {}),
          ...(this.retries > 0 ? { retries: this.retries } : {}),
          ...(tokensIn + tokensOut > 0 ? { tokensIn, tokensOut } : {}),
          ...(failure ? { failure } : {}),
        },
        'request',
      );
    }
  }
}

/** One try against one replica: the undici dispatch handler. */
export class Attempt implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  status = 0;
  private discard = false;
  private done = false;
  private abortWanted = false;

  constructor(
    private readonly ex: Exchange,
    readonly member: Member,
    readonly started: number,
  ) {}

  abort(): void {
    if (this.controller) this.controller.abort(new Error('the client went away'));
    else this.abortWanted = true;
  }

  resume(): void {
    if (this.controller?.paused) this.controller.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortWanted || this.ex.clientGone) controller.abort(new Error('the client went away'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.controller = controller;
    this.status = statusCode;
    if (!this.ex.responseStart(this, statusCode, headers)) this.discard = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard) return;
    this.ex.data(this, chunk, controller);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.ex.attemptDone(this, undefined, this.discard);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.done) return;
    this.done = true;
    this.ex.attemptDone(this, err, false);
  }
}

/** `data:` lines in a chunk of an event stream: one per event. */
function countEvents(chunk: Buffer): number {
  let n = 0;
  let i = chunk.indexOf('data:');
  while (i >= 0) {
    n++;
    i = chunk.indexOf('data:', i + 5);
  }
  return n;
}

function upstreamHeaders(req: IncomingMessage, id: string, extra: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (DROP_REQUEST.has(name)) continue;
    const value = raw[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  out['x-request-id'] = id;
  const ip = req.socket.remoteAddress;
  if (ip) out['x-forwarded-for'] = out['x-forwarded-for'] ? `${out['x-forwarded-for']}, ${ip}` : ip;
  if (extra) for (const name in extra) out[name.toLowerCase()] = extra[name]!;
  return out;
}
