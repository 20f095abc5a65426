import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/**
 * Reads a request body up to `limit` bytes and calls `done` once. A declared length over the limit is
 * refused before a byte is read; an undeclared one as soon as it passes the limit. The rest of a
 * refused body is drained, so the client can finish sending and read the 413. Callback-based: this
 * runs on every request, and a promise per body is measurable there.
 */
export function readBody(req: IncomingMessage, limit: number, done: (err: Error | null, body?: Buffer) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    done(new BodyTooLarge(limit));
    return;
  }
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      first = undefined;
      chunks = undefined;
      req.off('data', onData);
      req.resume();
      if (!finished) {
        finished = true;
        done(new BodyTooLarge(limit));
      }
      return;
    }
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  };
  req.on('data', onData);
  req.once('end', () => {
    if (finished) return;
    finished = true;
    done(null, chunks ? Buffer.concat(chunks, size) : (first ?? Buffer.alloc(0)));
  });
  req.once('error', (err) => {
    if (finished) return;
    finished = true;
    done(err);
  });
}

/** The boundary of a multipart/form-data content type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/**
 * The value of a plain (non-file) field of a multipart/form-data body, or undefined. Walks the part
 * boundaries with indexOf, so audio bytes are never scanned as text or copied.
 */
export function multipartField(body: Buffer, boundary: string, field: string): string | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const partStart = pos + delimiter.length;
    // `--boundary--` closes the body.
    if (body[partStart] === 0x2d && body[partStart + 1] === 0x2d) return undefined;
    const headersEnd = body.indexOf('\r\n\r\n', partStart);
    if (headersEnd < 0) return undefined;
    const next = body.indexOf(delimiter, headersEnd + 4);
    if (next < 0) return undefined;
    const headers = body.toString('latin1', partStart, headersEnd);
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    if (name === field && !/\bfilename="/i.test(headers)) {
      // The part's data ends before the CRLF that precedes the next delimiter.
      return body.toString('utf8', headersEnd + 4, Math.max(headersEnd + 4, next - 2));
    }
    pos = next;
  }
  return undefined;
}

const PREFIX_CHARS = 1024;

/**
 * The start of a prompt, for prefix affinity: requests sharing a long system prompt or conversation
 * head land on the replica that may hold its KV cache. Undefined when there is no text prompt.
 */
export function promptPrefix(body: Record<string, unknown>): string | undefined {
  if (typeof body.prompt === 'string') return body.prompt.slice(0, PREFIX_CHARS);
  if (!Array.isArray(body.messages)) return undefined;
  let out = '';
  for (const m of body.messages as unknown[]) {
    if (typeof m !== 'object' || m === null) continue;
    const content = (m as { content?: unknown }).content;
    if (typeof content === 'string') out += `${String((m as { role?: unknown }).role)}:${content}\n`;
    else if (Array.isArray(content)) {
      for (const part of content as unknown[]) {
        const text = (part as { text?: unknown } | null)?.text;
        if (typeof text === 'string') out += text;
      }
    }
    if (out.length >= PREFIX_CHARS) break;
  }
  return out === '' ? undefined : out.slice(0, PREFIX_CHARS);
}

const USAGE = Buffer.from('"usage"');

/**
 * Token counts from the `usage` object near the end of an OpenAI response or stream (where servers put
 * it), searched in the last bytes only so large responses are never parsed.
 */
export function usageFrom(tail: Buffer): { prompt: number; completion: number } | undefined {
  const at = tail.lastIndexOf(USAGE);
  if (at < 0) return undefined;
  const text = tail.toString('utf8', at, Math.min(tail.length, at + 400));
  const prompt = /"prompt_tokens"\s*:\s*(\d+)/.exec(text);
  if (!prompt) return undefined;
  const completion = /"completion_tokens"\s*:\s*(\d+)/.exec(text);
  return { prompt: Number(prompt[1]), completion: completion ? Number(completion[1]) : 0 };
}
