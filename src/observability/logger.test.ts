import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logs', () => {
  it('show credentials in request headers, upstream headers and benchmark targets redacted, other headers as they are', () => {
    const out = capture();
    const log = createLogger('info', 'test', out.stream);
    log.info({ req: { method: 'GET', headers: { authorization: 'Bearer sk-live-0123456789abcdef765', 'content-type': 'application/json', 'x-api-key': 'k-0123456789abcdefghij' } } }, 'request');
    log.info({ route: { upstreamHeaders: { authorization: 'Bearer sk-upstream-0123456789xyz' } } }, 'route');
    log.info({ target: { url: 'http://x', headers: { 'x-token': 'tok-0123456789abcdefghij' } } }, 'target');
    log.info({ authHeader: 'Bearer sk-endpoint-0123456789abc' }, 'endpoint');
    const text = out.text();
    for (const secret of ['sk-live-0123456789abcdef765', 'k-0123456789abcdefghij', 'sk-upstream-0123456789xyz', 'tok-0123456789abcdefghij', 'sk-endpoint-0123456789abc']) {
      expect(text).not.toContain(secret);
    }
    const [req] = out.lines();
    expect((req!.req as { headers: Record<string, string> }).headers).toEqual({ authorization: 'Bearer sk-l…765', 'content-type': 'application/json', 'x-api-key': 'k-01…hij' });
  });
});
