import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Config } from '../config/index.js';
import { type Logger, Registry } from '../observability/index.js';
import { type Clock, packageInfo, systemClock } from '../util/index.js';
import { type AffinityGuard, DEFAULT_AFFINITY_GUARD } from './balancer.js';
import { BodyTooLarge, multipartBoundary, multipartField, promptPrefix, readBody } from './body.js';
import { Exchange, type ExchangeContext, type ExchangeInit } from './exchange.js';
import { OutlierDetector, tcpProbe } from './health.js';
import { GatewayMetrics, NO_DEPLOYMENT } from './metrics.js';
import { type ErrorFormat, type GatewayError, errors, sendError, sendJson } from './respond.js';
import type { RouteSource, SourceStatus } from './source.js';
import { type KeyEntry, RoutingTable, type TableRoute } from './table.js';
import type { AffinityMode } from './types.js';
import { UpstreamSet } from './upstream.js';

export interface GatewayOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  source: RouteSource;
  log: Logger;
  /** Where the gateway's metrics go; a fresh registry when omitted. */
  metrics?: Registry;
  clock?: Clock;
  /** Largest request body, in bytes. */
  bodyLimit?: number;
  /** Further replicas tried after a failed attempt (at most). */
  maxRetries?: number;
  connectTimeoutMs?: number;
  /** Time allowed for response headers and between body chunks; 0: none. */
  responseTimeoutMs?: number;
  /** Consecutive failures that eject a replica. */
  ejectAfter?: number;
  ejectBaseMs?: number;
  ejectMaxMs?: number;
  /** One structured log line per request. */
  accessLog?: boolean;
  /** Affinity for LLM routes that set none themselves. */
  affinity?: AffinityMode;
  affinityGuard?: AffinityGuard;
  /** Decay time of the latency average, in ms. */
  ewmaTauMs?: number;
  /** Weight of outstanding requests against latency in balancing (see BalanceOptions.bias). */
  activeRequestBias?: number;
  /**
   * Web origins whose pages may call the gateway (CORS): `['*']` any (the default), `[]` none.
   * Browsers send no credentials on their own here; the API key in the request is what authorises.
   */
  corsOrigins?: readonly string[];
}

/** The gateway's settings from the configuration file and environment. */
export function gatewayOptionsFromConfig(config: Config): Omit<GatewayOptions, 'source' | 'log'> {
  return {
    host: config.gatewayHost,
    port: config.gatewayPort,
    bodyLimit: config.gatewayBodyLimit,
    maxRetries: config.gatewayMaxRetries,
    connectTimeoutMs: config.gatewayConnectTimeoutMs,
    responseTimeoutMs: config.gatewayResponseTimeoutMs,
    ejectAfter: config.gatewayEjectAfter,
    ejectBaseMs: config.gatewayEjectBaseMs,
    accessLog: config.gatewayAccessLog,
    affinity: config.gatewayAffinity,
    activeRequestBias: config.gatewayActiveRequestBias,
    corsOrigins: config.gatewayCorsOrigins
      .split(',')
      .map((o) => o.trim().replace(/\/$/, ''))
      .filter(Boolean),
  };
}

export interface Gateway {
  /** Base URL, e.g. http://127.0.0.1:8000. */
  url: string;
  port: number;
  table: RoutingTable;
  metrics: Registry;
  source: RouteSource;
  status(): SourceStatus;
  /** Resolves once the first routing table is loaded (rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes upstream pools. */
  close(graceMs?: number): Promise<void>;
}

const OPENAI_ROUTES: Record<string, string> = {
  '/v1/chat/completions': '/v1/chat/completions',
  '/v1/completions': '/v1/completions',
  '/v1/embeddings': '/v1/embeddings',
  '/v1/audio/transcriptions': '/v1/audio/transcriptions',
};

/** Roughly four characters per token: an estimate for limits when a stream reports no usage. */
const CHARS_PER_TOKEN = 4;

class DataPlane {
  readonly table: RoutingTable;
  readonly upstreams: UpstreamSet;
  readonly metrics: GatewayMetrics;
  readonly registry: Registry;
  private readonly ctx: ExchangeContext;
  private readonly clock: Clock;
  private readonly bodyLimit: number;
  private readonly affinity: AffinityMode;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private counter = 0;
  private readonly created = Math.floor(Date.now() / 1000);
  /** null: any origin; an empty set: none. */
  private readonly corsOrigins: ReadonlySet<string> | null;

  constructor(
    private readonly opts: GatewayOptions,
    readonly log: Logger,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.bodyLimit = opts.bodyLimit ?? 32 * 1024 * 1024;
    this.affinity = opts.affinity ?? 'session';
    const origins = opts.corsOrigins ?? ['*'];
    this.corsOrigins = origins.includes('*') ? null : new Set(origins);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.upstreams = new UpstreamSet({ connectTimeoutMs, responseTimeoutMs: opts.responseTimeoutMs ?? 300_000, initialEwmaMs: 1, tauMs: opts.ewmaTauMs ?? 10_000 });
    this.table = new RoutingTable(this.upstreams);
    this.registry = opts.metrics ?? new Registry();
    this.metrics = new GatewayMetrics(this.registry, this.table, this.upstreams, () => opts.source.status().connected);
    const detector = new OutlierDetector(
      { ejectAfter: opts.ejectAfter ?? 3, baseMs: opts.ejectBaseMs ?? 5000, maxMs: opts.ejectMaxMs ?? 300_000, forgetAfterMs: 60_000 },
      () => performance.now(),
      (u) => tcpProbe(u, connectTimeoutMs),
      (u, ms) => {
        this.metrics.ejections.inc({ deployment: this.routeNameOf(u.url) });
        log.warn({ replica: u.url, ejectedForMs: ms }, 'replica ejected after consecutive failures');
      },
    );
    this.ctx = {
      metrics: this.metrics,
      detector,
      log,
      // Decided once: building a log line that the level then drops would still cost every request.
      accessLog: (opts.accessLog ?? true) && log.isLevelEnabled('info'),
      maxRetries: opts.maxRetries ?? 2,
      balance: { bias: opts.activeRequestBias ?? 0.5, guard: opts.affinityGuard ?? DEFAULT_AFFINITY_GUARD, rand: Math.random },
      now: () => this.clock.now(),
      current: (id) => this.table.lookup(id),
    };
  }

  private routeNameOf(url: string): string {
    for (const r of this.table.routes()) if (r.members.some((m) => m.upstream.url === url)) return r.route.name;
    return NO_DEPLOYMENT;
  }

  private requestId(req: IncomingMessage): string {
    const given = req.headers['x-request-id'];
    if (typeof given === 'string' && given.length > 0 && given.length <= 128 && /^[\w.:-]+$/.test(given)) return given;
    return `${this.idPrefix}-${(++this.counter).toString(36)}`;
  }

  /**
   * CORS for browser clients (the web console's try-it panel runs on the API's origin). Only
   * requests with an Origin header pay for it. Returns true when it answered a preflight.
   */
  private cors(req: IncomingMessage, res: ServerResponse, origin: string): boolean {
    const allowed = this.corsOrigins === null || this.corsOrigins.has(origin);
    if (allowed) {
      res.setHeader('access-control-allow-origin', this.corsOrigins === null ? '*' : origin);
      res.setHeader('access-control-expose-headers', 'x-request-id, x-catapult-replica, retry-after');
      if (this.corsOrigins !== null) res.setHeader('vary', 'origin');
    }
    if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
    // A preflight: say which methods and headers may follow. A refused origin gets no allow headers, which the browser enforces.
    const headers: Record<string, string> = { 'content-length': '0' };
    if (allowed) {
      headers['access-control-allow-methods'] = 'GET, HEAD, POST, OPTIONS';
      const asked = req.headers['access-control-request-headers'];
      headers['access-control-allow-headers'] = typeof asked === 'string' && asked !== '' ? asked : 'authorization, content-type';
      headers['access-control-max-age'] = '600';
    }
    res.writeHead(allowed ? 204 : 403, headers);
    res.end();
    return true;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const origin = req.headers.origin;
    if (origin !== undefined && this.cors(req, res, origin)) return;
    const id = this.requestId(req);
    if (path.startsWith('/v1/')) {
      try {
        this.openai(req, res, path, url, id);
      } catch (err) {
        this.crash(res, 'openai', id, err);
      }
      return;
    }
    if (path === '/v2' || path.startsWith('/v2/')) {
      try {
        this.oip(req, res, path, url, id);
      } catch (err) {
        this.crash(res, 'oip', id, err);
      }
      return;
    }
    switch (path) {
      case '/health':
        return sendJson(res, 200, '{"status":"ok"}');
      case '/ready':
        return this.table.loaded
          ? sendJson(res, 200, '{"status":"ready"}')
          : sendJson(res, 503, '{"status":"starting","detail":"the routing table has not been loaded from the control plane yet"}');
      case '/metrics':
        void this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          },
          (err: unknown) => this.crash(res, 'oip', id, err),
        );
        return;
      default:
        sendError(res, 'oip', errors.notFound(`No route ${req.method ?? 'GET'} ${path} on the data plane; use /v1 (OpenAI) or /v2 (KServe v2).`), id);
    }
  }

  private crash(res: ServerResponse, format: ErrorFormat, id: string, err: unknown): void {
    this.log.error({ err, id }, 'gateway request failed');
    if (!res.headersSent) sendError(res, format, { status: 500, message: 'Internal gateway error.', type: 'server_error', code: 'internal_error' }, id);
    else res.destroy();
  }

  /** The key behind the request's credentials, or the error to answer with. */
  private authenticate(req: IncomingMessage): KeyEntry | GatewayError {
    let secret: string | undefined;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) return errors.unauthenticated('The Authorization header must be `Bearer <key>`.');
      secret = m[1];
    } else {
      const apiKey = req.headers['api-key'];
      if (typeof apiKey === 'string' && apiKey !== '') secret = apiKey;
    }
    if (secret === undefined) return errors.unauthenticated('This gateway needs an API key: send `Authorization: Bearer <key>`.');
    const key = secret.length <= 200 ? this.table.key(createHash('sha256').update(secret).digest('hex')) : undefined;
    if (!key || (key.expiresAt !== null && key.expiresAt <= this.clock.now())) {
      return errors.unauthenticated('The API key is unknown, revoked or expired.');
    }
    if (!key.canInfer) return errors.forbidden("This key lacks the 'infer' scope the data plane needs.", 'insufficient_scope');
    return key;
  }

  private mayUse(key: KeyEntry, entry: TableRoute): boolean {
    if (key.deployments === null) return true;
    if (key.deployments.has(entry.route.id)) return true;
    for (const n of entry.names) if (key.deployments.has(n)) return true;
    return false;
  }

  /** Per-key limits; the error when the key is over one. */
  private limit(key: KeyEntry): GatewayError | undefined {
    if (!key.rpm && !key.tpm) return undefined;
    const now = this.clock.now();
    if (key.rpm) {
      const r = key.rpm.check(now, 1);
      if (!r.ok) {
        this.metrics.rateLimited.inc({ limit: 'rpm' });
        return errors.rateLimited(`This key is limited to ${key.rpm.limit} requests per minute.`, r.retryAfterS);
      }
    }
    if (key.tpm) {
      const r = key.tpm.check(now, 0);
      if (!r.ok) {
        this.metrics.rateLimited.inc({ limit: 'tpm' });
        return errors.rateLimited(`This key is limited to ${key.tpm.limit} tokens per minute.`, r.retryAfterS);
      }
    }
    key.rpm?.add(now, 1);
    return undefined;
  }

  private notLoaded(): GatewayError {
    return errors.unavailable('The gateway has not loaded its routing table from the control plane yet.', 'gateway_starting');
  }

  private refuse(res: ServerResponse, format: ErrorFormat, id: string, err: GatewayError, route = 'unmatched', deployment = NO_DEPLOYMENT): void {
    this.metrics.request(deployment, route, err.status).inc();
    sendError(res, format, err, id);
  }

  /** Reads the body, then calls `next`; a body over the limit gets 413 and `next` never runs. */
  private withBody(req: IncomingMessage, res: ServerResponse, format: ErrorFormat, id: string, route: string, next: (body: Buffer) => void): void {
    readBody(req, this.bodyLimit, (err, body) => {
      if (err instanceof BodyTooLarge) return this.refuse(res, format, id, errors.tooLarge(this.bodyLimit), route);
      if (err || !body) return void res.destroy();
      try {
        next(body);
      } catch (e) {
        this.crash(res, format, id, e);
      }
    });
  }

  // ── OpenAI-compatible API ────────────────────────────────────────────────

  private openai(req: IncomingMessage, res: ServerResponse, path: string, url: string, id: string): void {
    const method = req.method ?? 'GET';
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (method !== 'GET') return this.refuse(res, 'openai', id, errors.methodNotAllowed(method, path, 'GET'));
      const key = this.authenticate(req);
      if (!('id' in key)) return this.refuse(res, 'openai', id, key);
      if (!this.table.loaded) return this.refuse(res, 'openai', id, this.notLoaded());
      return this.models(res, key, path === '/v1/models' ? undefined : decodeURIComponent(path.slice('/v1/models/'.length)), id);
    }
    const apiRoute = OPENAI_ROUTES[path];
    if (!apiRoute) return this.refuse(res, 'openai', id, errors.notFound(`Unknown API path ${path}; the gateway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/audio/transcriptions and /v1/models.`));
    if (method !== 'POST') return this.refuse(res, 'openai', id, errors.methodNotAllowed(method, path, 'POST'), apiRoute);
    const key = this.authenticate(req);
    if (!('id' in key)) return this.refuse(res, 'openai', id, key, apiRoute);
    if (!this.table.loaded) return this.refuse(res, 'openai', id, this.notLoaded(), apiRoute);
    this.withBody(req, res, 'openai', id, apiRoute, (body) => this.openaiRequest(req, res, path, url, id, apiRoute, key, body));
  }

  private openaiRequest(req: IncomingMessage, res: ServerResponse, path: string, url: string, id: string, apiRoute: string, key: KeyEntry, body: Buffer): void {
    let model: string | undefined;
    let parsed: Record<string, unknown> | undefined;
    const boundary = path === '/v1/audio/transcriptions' ? multipartBoundary(req.headers['content-type']) : undefined;
    if (boundary) {
      model = multipartField(body, boundary, 'model');
    } else {
      try {
        const value: unknown = JSON.parse(body.toString('utf8'));
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
      } catch {
        // reported below
      }
      if (!parsed) {
        return this.refuse(
          res,
          'openai',
          id,
          errors.badRequest(
            path === '/v1/audio/transcriptions'
              ? 'Send the audio as multipart/form-data with the fields file and model (or a JSON object).'
              : 'The request body is not a valid JSON object.',
            'invalid_json',
          ),
          apiRoute,
        );
      }
      if (typeof parsed.model === 'string') model = parsed.model;
      else if (parsed.model !== undefined) return this.refuse(res, 'openai', id, errors.badRequest('`model` must be a string.', 'invalid_type', 'model'), apiRoute);
    }
    if (model === undefined || model === '') {
      return this.refuse(res, 'openai', id, errors.badRequest('You must provide a model parameter.', 'missing_required_parameter', 'model'), apiRoute);
    }
    const entry = this.table.lookup(model);
    if (!entry || !this.mayUse(key, entry)) {
      if (entry) return this.refuse(res, 'openai', id, errors.forbidden(`This key may not use the model '${model}'.`, 'model_not_allowed'), apiRoute, entry.route.name);
      return this.refuse(res, 'openai', id, errors.modelNotFound(model), apiRoute);
    }
    if (entry.route.protocol !== 'openai') {
      const hint = entry.route.protocol === 'kserve-v2' ? `send POST /v2/models/${entry.route.name}/infer` : `send requests to /v2/models/${entry.route.name}/...`;
      return this.refuse(res, 'openai', id, errors.badRequest(`The model '${model}' does not speak the OpenAI API; ${hint}.`, 'wrong_protocol', 'model'), apiRoute);
    }
    const limited = this.limit(key);
    if (limited) return this.refuse(res, 'openai', id, limited, apiRoute, entry.route.name);

    const target = entry.route.upstreamModel ?? entry.route.name;
    if (parsed && model !== target) {
      // An alias (md-<id>) or a renamed endpoint: the replica knows the model by its own name.
      parsed.model = target;
      body = Buffer.from(JSON.stringify(parsed));
    }
    const stream = parsed?.stream === true;
    this.forward({
      req,
      res,
      id,
      format: 'openai',
      apiRoute,
      entry,
      key,
      method: 'POST',
      path: url,
      body,
      stream,
      affinityKey: parsed ? this.affinityKey(req, parsed, entry) : null,
      retryAfterSend: true,
      countTokens: true,
      promptEstimate: Math.ceil(body.length / CHARS_PER_TOKEN),
      started: performance.now(),
    });
  }

  private affinityKey(req: IncomingMessage, body: Record<string, unknown>, entry: TableRoute): string | null {
    const mode = entry.route.affinity ?? this.affinity;
    if (mode === 'none' || entry.ready.length < 2) return null;
    if (mode === 'session') {
      const header = req.headers['x-session-id'];
      if (typeof header === 'string' && header !== '') return header;
      return typeof body.user === 'string' && body.user !== '' ? body.user : null;
    }
    return promptPrefix(body) ?? null;
  }

  private models(res: ServerResponse, key: KeyEntry, one: string | undefined, id: string): void {
    const toModel = (e: TableRoute) => ({
      id: e.route.name,
      object: 'model',
      created: Math.floor((e.route.updatedAt || this.created * 1000) / 1000),
      owned_by: e.route.kind === 'endpoint' ? 'catapult-endpoint' : 'catapult',
    });
    if (one !== undefined) {
      const entry = this.table.lookup(one);
      if (!entry || !this.mayUse(key, entry) || entry.route.protocol !== 'openai') return this.refuse(res, 'openai', id, errors.modelNotFound(one), '/v1/models');
      this.metrics.request(entry.route.name, '/v1/models', 200).inc();
      return sendJson(res, 200, JSON.stringify(toModel(entry)), { 'x-request-id': id });
    }
    const data = [...this.table.routes()].filter((e) => e.route.protocol === 'openai' && this.mayUse(key, e)).map(toModel);
    data.sort((a, b) => a.id.localeCompare(b.id));
    this.metrics.request(NO_DEPLOYMENT, '/v1/models', 200).inc();
    sendJson(res, 200, JSON.stringify({ object: 'list', data }), { 'x-request-id': id });
  }

  // ── KServe v2 / Open Inference Protocol ──────────────────────────────────

  private oip(req: IncomingMessage, res: ServerResponse, path: string, url: string, id: string): void {
    const method = req.method ?? 'GET';
    if (path === '/v2' || path === '/v2/') {
      return sendJson(res, 200, JSON.stringify({ name: 'catapult-gateway', version: packageInfo().version, extensions: [] }));
    }
    if (path === '/v2/health/live') return sendJson(res, 200, '{"live":true}');
    if (path === '/v2/health/ready') return sendJson(res, this.table.loaded ? 200 : 503, JSON.stringify({ ready: this.table.loaded }));
    if (!path.startsWith('/v2/models/')) return this.refuse(res, 'oip', id, errors.notFound(`No route ${method} ${path}.`));

    const key = this.authenticate(req);
    if (!('id' in key)) return this.refuse(res, 'oip', id, key);
    if (!this.table.loaded) return this.refuse(res, 'oip', id, this.notLoaded());
    const segments = path.slice('/v2/models/'.length).split('/');
    if (segments.at(-1) === '') segments.pop();
    const found = this.resolve(segments);
    if (!found) return this.refuse(res, 'oip', id, errors.notFound(`Model '${safeDecode(segments[0] ?? '')}' not found.`));
    const { entry, tail } = found;
    if (!this.mayUse(key, entry)) return this.refuse(res, 'oip', id, errors.forbidden(`This key may not use the model '${entry.route.name}'.`, 'model_not_allowed'));
    const name = entry.route.name;
    const query = url.length > path.length ? url.slice(path.length) : '';
    const t = tail.join('/');
    const label = (action: string) => `/v2/models/{name}${action}`;

    // Seed 003's per-deployment health and the model's readiness come from the table: no upstream hop.
    if (t === 'health/live' || t === 'ready' || t === 'health/ready' || /^versions\/[^/]+\/ready$/.test(t)) {
      // Seed 003 lists both GET and POST for health/live; the readiness paths are GET as KServe has them.
      const allowed = t === 'health/live' ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
      if (!allowed.includes(method)) return this.refuse(res, 'oip', id, errors.methodNotAllowed(method, path, t === 'health/live' ? 'GET, POST' : 'GET'), label(`/${t}`));
      const ready = entry.ready.length > 0;
      this.metrics.request(name, label(t === 'health/live' ? '/health/live' : '/ready'), ready ? 200 : 503).inc();
      const body = t === 'health/live' ? { name, live: ready } : { name, ready };
      return sendJson(res, ready ? 200 : 503, JSON.stringify(body), { 'x-request-id': id });
    }

    if (entry.route.protocol === 'http') {
      // A plain HTTP server: everything after the model's name is its own path.
      const limited = this.limit(key);
      if (limited) return this.refuse(res, 'oip', id, limited, label('/*'), name);
      const send = (body: Buffer | null) =>
        this.forward({
          req,
          res,
          id,
          format: 'oip',
          apiRoute: label('/*'),
          entry,
          key,
          method,
          path: `/${t}${query}`,
          body,
          stream: false,
          affinityKey: null,
          retryAfterSend: method === 'GET' || method === 'HEAD',
          countTokens: false,
          promptEstimate: 0,
          started: performance.now(),
        });
      if (method === 'GET' || method === 'HEAD') return send(null);
      return this.withBody(req, res, 'oip', id, label('/*'), send);
    }

    const infer = t === 'infer' || /^versions\/[^/]+\/infer$/.test(t);
    const metadata = t === '' || /^versions\/[^/]+$/.test(t);
    if (!infer && !metadata) return this.refuse(res, 'oip', id, errors.notFound(`No route ${method} ${path}.`));
    if (entry.route.protocol === 'openai') {
      if (metadata) {
        this.metrics.request(name, label(''), 200).inc();
        return sendJson(res, 200, JSON.stringify({ name, versions: [], platform: 'openai', inputs: [], outputs: [] }), { 'x-request-id': id });
      }
      return this.refuse(res, 'oip', id, errors.badRequest(`The model '${name}' speaks the OpenAI API; send POST /v1/chat/completions (or /v1/completions) with "model": "${name}".`, 'wrong_protocol'), label('/infer'));
    }
    const apiRoute = label(infer ? '/infer' : '');
    const want = infer ? 'POST' : 'GET';
    if (method !== want && !(metadata && method === 'HEAD')) return this.refuse(res, 'oip', id, errors.methodNotAllowed(method, path, want), apiRoute);
    const limited = this.limit(key);
    if (limited) return this.refuse(res, 'oip', id, limited, apiRoute, name);
    const target = encodeURI(entry.route.upstreamModel ?? name);
    const send = (body: Buffer | null) =>
      this.forward({
        req,
        res,
        id,
        format: 'oip',
        apiRoute,
        entry,
        key,
        method,
        path: `/v2/models/${target}${t === '' ? '' : `/${t}`}${query}`,
        body,
        stream: false,
        affinityKey: null,
        retryAfterSend: true,
        countTokens: false,
        promptEstimate: 0,
        started: performance.now(),
      });
    if (infer) this.withBody(req, res, 'oip', id, apiRoute, send);
    else send(null);
  }

  /** The route named by the longest leading run of path segments (names may contain '/'), and the rest. */
  private resolve(segments: string[]): { entry: TableRoute; tail: string[] } | undefined {
    for (let k = Math.min(segments.length, 8); k >= 1; k--) {
      const name = safeDecode(segments.slice(0, k).join('/'));
      const entry = this.table.lookup(name);
      if (entry) return { entry, tail: segments.slice(k) };
    }
    return undefined;
  }

  private forward(init: ExchangeInit): void {
    new Exchange(this.ctx, init).start();
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Starts the data-plane gateway: a node:http server that authenticates, balances and forwards
 * requests using only its in-memory routing table, which `source` keeps current.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.log.child({ component: 'gateway' });
  const plane = new DataPlane(opts, log);
  const server: Server = createServer({ keepAliveTimeout: 65_000, noDelay: true, requestTimeout: 0 }, (req, res) => plane.handle(req, res));
  // Streams last as long as generation does; the response timeout toward replicas bounds them instead.
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8000, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8000);
  const host = opts.host ?? '127.0.0.1';
  const shownHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  opts.source.start(plane.table, log);
  let closing: Promise<void> | undefined;

  return {
    url: `http://${shownHost}:${port}`,
    port,
    table: plane.table,
    metrics: plane.registry,
    source: opts.source,
    status: () => opts.source.status(),
    async ready(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the gateway could not load its routing table in ${timeoutMs} ms: ${opts.source.status().lastError ?? 'no answer'}`)), timeoutMs);
      });
      try {
        await Promise.race([opts.source.firstSync(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        await opts.source.stop();
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            server.closeAllConnections();
          }, graceMs);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        });
        plane.table.clear();
        await plane.upstreams.closeAll();
      })();
      return closing;
    },
  };
}
