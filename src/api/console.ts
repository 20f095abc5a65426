import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { packageInfo } from '../util/index.js';
import type { App } from './route.js';

/**
 * The web console: the single-page app that `npm run build` writes to web/dist, served at `/`.
 * Its files are public (the API key is typed into the page, never into a URL), so the routes carry
 * no scope, and they are hidden from the OpenAPI document, which describes the API only.
 */

/** Paths the console never answers, even for a browser: they belong to the API, the data plane or operations. */
const NOT_CONSOLE = /^\/(api|v1|v2|health|ready|metrics|assets)(\/|$|\?)/;

export interface ConsoleOptions {
  /** The built console; default `<package root>/web/dist`. */
  dir?: string;
  /** Other origins the page may call (the gateway, for Try it), read on each request: its port may be chosen after start. */
  connectOrigins?: () => string[];
}

/** sha256 hashes, as CSP sources, of a page's inline `<script>` (or `<style>`) elements. */
function inlineHashes(html: string, tag: 'script' | 'style'): string[] {
  const re = tag === 'script' ? /<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi : /<style[^>]*>([\s\S]*?)<\/style>/gi;
  return [...html.matchAll(re)].map((m) => `'sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}'`);
}

function origin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/**
 * The console's Content-Security-Policy: everything from this server, scripts only the bundle and the
 * page's own inline script (by hash), no framing. `connect-src` adds the gateway, which Try it calls.
 * The editor (CodeMirror) writes its styles into <style> elements: those carry a nonce, new on every
 * load of the page and given to the app in `<meta name="csp-nonce">`.
 */
export function consolePolicy(html: string, connectOrigins: string[], styleNonce?: string): string {
  const connect = [...new Set(connectOrigins.map(origin).filter((o): o is string => o !== null))];
  return [
    "default-src 'self'",
    `script-src 'self' ${inlineHashes(html, 'script').join(' ')}`.trim(),
    `style-src 'self' ${[...inlineHashes(html, 'style'), ...(styleNonce ? [`'nonce-${styleNonce}'`] : [])].join(' ')}`.trim(),
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${connect.join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The page with its style nonce in `<meta name="csp-nonce">`, first thing in its head. */
function withNonce(html: string, nonce: string): string {
  const meta = `<meta name="csp-nonce" content="${nonce}" />`;
  if (/<head[^>]*>/i.test(html)) return html.replace(/<head[^>]*>/i, (m) => `${m}\n    ${meta}`);
  return html.replace(/^(<!doctype[^>]*>)?/i, (m) => `${m}${meta}`);
}

/** Headers every console response carries: no framing (clickjacking), no MIME sniffing, no referrer. */
/** Frame, sniffing and referrer protection, on the page and on every asset. */
const PROTECT_HEADERS = { 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' } as const;

function protect(reply: FastifyReply): FastifyReply {
  return reply.headers(PROTECT_HEADERS);
}

export interface Console {
  /** Whether web/dist was there when the server started. */
  built: boolean;
  /**
   * Answers a browser's GET of a path the router does not know (a deep link such as
   * /deployments/iris) with the app's index.html. Returns false when the request is not one.
   */
  fallback(req: FastifyRequest, reply: FastifyReply): boolean;
}

const NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Catapult: console not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2328}code{background:#eff1f3;padding:.1em .3em;border-radius:4px}</style></head>
<body><h1>The web console is not built</h1>
<p>This server has no <code>web/dist</code>. Run <code>npm run build</code> (or <code>npm start</code>, which builds first) to build it, then restart the server.</p>
<p>The API works without it: <a href="/api/docs">/api/docs</a>.</p></body></html>`;

function wantsHtml(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

/** Registers the console's routes on the API app. */
export async function registerConsole(app: App, opts: ConsoleOptions = {}): Promise<Console> {
  const dir = opts.dir ?? join(packageInfo().root, 'web', 'dist');
  const indexFile = join(dir, 'index.html');
  const built = existsSync(indexFile);

  // index.html names the hashed bundles of the current build, so it must never be cached; it is
  // re-read when it changes on disk, so a rebuild shows without a restart.
  let cached: { mtimeMs: number; html: string } | undefined;
  const indexHtml = (): string | undefined => {
    try {
      const { mtimeMs } = statSync(indexFile);
      if (!cached || cached.mtimeMs !== mtimeMs) cached = { mtimeMs, html: readFileSync(indexFile, 'utf8') };
      return cached.html;
    } catch {
      return undefined;
    }
  };
  const sendIndex = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const html = indexHtml();
    if (html === undefined) {
      if (wantsHtml(req)) {
        return protect(reply)
          .code(503)
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .header('content-security-policy', consolePolicy(NOT_BUILT_HTML, []))
          .send(NOT_BUILT_HTML);
      }
      return reply
        .code(503)
        .type('application/json')
        .header('cache-control', 'no-store')
        .send({ status: 'console_not_built', detail: 'This server has no web/dist.', hint: 'Run `npm run build` to build the web console, then restart the server.' });
    }
    const nonce = randomBytes(16).toString('base64');
    return protect(reply)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', consolePolicy(html, opts.connectOrigins?.() ?? [], nonce))
      .send(withNonce(html, nonce));
  };

  app.get('/', { schema: { hide: true } }, (req, reply) => sendIndex(req, reply));

  if (existsSync(join(dir, 'assets'))) {
    // File names carry a content hash: a changed file is a new URL, so caching forever is safe.
    await app.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      schemaHide: true,
      immutable: true,
      maxAge: '365d',
      preCompressed: true,
      index: false,
      setHeaders: (res) => {
        for (const [name, value] of Object.entries(PROTECT_HEADERS)) res.setHeader(name, value);
      },
    });
  }

  return {
    built,
    fallback(req, reply) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (NOT_CONSOLE.test(req.url) || !wantsHtml(req)) return false;
      void sendIndex(req, reply);
      return true;
    },
  };
}
