/**
 * A Server-Sent Events reader over fetch. EventSource cannot send an Authorization header, and the
 * key must not travel in a URL (it would land in logs and history), so the stream is read with
 * fetch and a ReadableStream and parsed here, following the WHATWG event-stream format.
 */

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser: feed it text chunks, it calls back once per complete message and comment. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;

  constructor(
    private readonly onMessage: (m: SseMessage) => void,
    private readonly onComment: (text: string) => void = () => undefined,
  ) {}

  push(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) return;
      const line = this.buffer.slice(0, nl);
      const skip = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + skip);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onMessage({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) {
      this.onComment(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }
}

export interface StreamOptions {
  url: string;
  headers: Record<string, string>;
  onMessage: (m: SseMessage) => void;
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
    if (done) return;
    parser.push(value);
  }
}
