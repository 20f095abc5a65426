/**
 * A Server-Sent Events reader over fetch. EventSource cannot send an Authorization header, and the
 * key must not travel in a URL (it would land in logs and history), so the stream is read with
 * fetch and a ReadableStream and parsed with the shared event-stream parser.
 */

// The parser is the server's own (src/sse/parser.ts, free of imports so the bundle can take it as is).
import { type SseEvent, SseParser } from '../../../src/sse/parser';

export { type SseEvent, SseParser };

export interface StreamOptions {
  url: string;
  headers: Record<string, string>;
  onMessage: (m: SseEvent) => void;
  onComment?: (text: string) => void;
  onOpen?: () => void;
  signal: AbortSignal;
}

/** Reads one connection to its end; resolves when the server closes it, rejects on an error answer. */
export async function readStream(opts: StreamOptions): Promise<void> {
  const res = await fetch(opts.url, { headers: { accept: 'text/event-stream', ...opts.headers }, signal: opts.signal, cache: 'no-store' });
  if (!res.ok || !res.body) throw Object.assign(new Error(`event stream answered ${res.status}`), { status: res.status });
  opts.onOpen?.();
  const parser = new SseParser(opts.onMessage, opts.onComment);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      parser.end();
      return;
    }
    parser.push(value);
  }
}
