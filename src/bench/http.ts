import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

/**
 * The load engine's HTTP/1.1 client: keep-alive connections, one request in flight on each, requests
 * written as one prebuilt buffer, responses parsed by Node's own llhttp binding. It exists because a
 * load generator's client must not be what limits the load: a general-purpose client (undici) spends
 * about 40% more CPU per request building and validating each request. It does only what a benchmark
 * needs; anything unusual (an upgrade, a 1xx answer) ends the request with an error saying so.
 */

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize?: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [key: number]: unknown;
}
interface ParserConstructor {
  new (): Parser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
// `_http_common` is Node's own HTTP module's parser (llhttp); it has been stable since Node 12.
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserConstructor };

/** What a request's caller is told, in order: headers, body chunks, then the end or an error. */
export interface ResponseHandler {
  onHeaders(status: number): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error & { code?: string }): void;
}

function requestError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** Builds the bytes of one request, once: request line, headers (host and content-length added), body. */
export function buildRequest(method: string, path: string, host: string, headers: readonly [string, string][], body: Buffer | null): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [k, v] of headers) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new Error(`header ${k} contains a line break`);
    head += `${k}: ${v}\r\n`;
  }
  if (body !== null || method === 'POST' || method === 'PUT') head += `content-length: ${body?.length ?? 0}\r\n`;
  head += '\r\n';
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}

class Connection {
  private readonly parser: Parser;
  handler: ResponseHandler | null = null;
  private keepAlive = true;
  connected = false;
  private closed = false;

  constructor(
    private readonly pool: HttpPool,
    private readonly socket: net.Socket,
  ) {
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {});
    this.parser[HTTPParser.kOnHeaders] = () => undefined;
    this.parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _headers: string[], _method: unknown, _url: unknown, status: number, _msg: unknown, upgrade: boolean, keepAlive: boolean) => {
      this.keepAlive = keepAlive;
      if (upgrade || status < 200) {
        this.fail(requestError('UNEXPECTED_RESPONSE', `the server answered ${status}${upgrade ? ' with an upgrade' : ''}, which a benchmark request does not expect`));
        return 0;
      }
      this.handler?.onHeaders(status);
      return 0;
    };
    this.parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.handler?.onData(chunk);
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      const h = this.handler;
      this.handler = null;
      if (!this.keepAlive) this.destroy();
      else this.pool.release(this);
      h?.onEnd();
    };
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      const r = this.parser.execute(data);
      if (r instanceof Error) this.fail(requestError('BAD_RESPONSE', `the response is not valid HTTP/1.1: ${r.message}`));
    });
    socket.on('error', (err: Error & { code?: string }) => this.fail(err));
    socket.on('close', () => {
      if (this.handler) {
        // A response delimited by the connection closing ends here; anything else was cut off.
        this.parser.finish();
        if (this.handler) this.fail(requestError('ECONNRESET', 'the server closed the connection before the response ended'));
      }
      this.closed = true;
      this.pool.forget(this);
      this.parser.close();
    });
  }

  send(request: Buffer, handler: ResponseHandler): void {
    this.handler = handler;
    this.socket.write(request);
  }

  abort(reason: Error): void {
    if (!this.handler) return;
    this.fail(reason);
  }

  private fail(err: Error & { code?: string }): void {
    const h = this.handler;
    this.handler = null;
    this.destroy();
    h?.onError(err);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

interface Waiting {
  request: Buffer;
  handler: ResponseHandler;
}

/** Keep-alive connections to one origin, up to `connections` at once; more requests wait in order. */
export class HttpPool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: Waiting[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  readonly hostHeader: string;

  constructor(
    origin: string,
    private readonly connections: number,
    private readonly connectTimeoutMs = 10_000,
    /** For https: extra trust (a private CA's certificate). */
    private readonly tlsOptions: Pick<tls.ConnectionOptions, 'ca' | 'rejectUnauthorized'> = {},
  ) {
    const u = new URL(origin);
    this.secure = u.protocol === 'https:';
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (this.secure ? 443 : 80));
    this.hostHeader = u.host;
  }

  /** Sends `request` on an idle connection, a new one, or the first to free up. */
  request(request: Buffer, handler: ResponseHandler): void {
    const idle = this.idle.pop();
    if (idle) {
      idle.send(request, handler);
      return;
    }
    this.waiting.push({ request, handler });
    if (this.all.size < this.connections) this.open();
  }

  /** Aborts the request `handler` receives (a connection serves many, one after another: only this one). */
  abort(handler: ResponseHandler, reason: Error): void {
    for (const c of this.all) {
      if (c.handler === handler) {
        c.abort(reason);
        return;
      }
    }
    const i = this.waiting.findIndex((w) => w.handler === handler);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      handler.onError(reason);
    }
  }

  private open(): void {
    const socket = this.secure ? tls.connect({ host: this.host, port: this.port, servername: net.isIP(this.host) ? undefined : this.host, ALPNProtocols: ['http/1.1'], ...this.tlsOptions }) : net.connect({ host: this.host, port: this.port });
    const timer = setTimeout(() => socket.destroy(requestError('CONNECT_TIMEOUT', `no connection to ${this.hostHeader} within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    const connection = new Connection(this, socket);
    this.all.add(connection);
    const ready = () => {
      clearTimeout(timer);
      connection.connected = true;
      this.release(connection);
    };
    socket.once(this.secure ? 'secureConnect' : 'connect', ready);
    socket.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      if (connection.connected) return;
      // A connection that never opened fails the first waiting request with its reason.
      const w = this.waiting.shift();
      w?.handler.onError(err);
      if (this.waiting.length > 0 && this.all.size < this.connections) setImmediate(() => this.open());
    });
  }

  /** A connection that is free again takes the next waiting request, or goes idle. */
  release(c: Connection): void {
    const next = this.waiting.shift();
    if (next) c.send(next.request, next.handler);
    else this.idle.push(c);
  }

  /** A connection that closed; if requests wait and it had been open, another takes its place. */
  forget(c: Connection): void {
    if (!this.all.delete(c)) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (c.connected && this.waiting.length > 0 && this.all.size < this.connections) this.open();
  }

  close(): void {
    for (const w of this.waiting.splice(0)) w.handler.onError(requestError('CLOSED', 'the pool was closed'));
    for (const c of [...this.all]) c.destroy();
    this.idle.length = 0;
  }
}
