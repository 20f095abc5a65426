import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse';

// The parser's own cases (CRLF, CR, LF, split chunks, comments) are in src/sse/parser.test.ts; this
// checks that the console's bundle gets that parser and reads the control plane's stream with it.
describe('the event-stream parser, as the console imports it', () => {
  it('reads ids, event names and multi-line data across chunk boundaries, and comments', () => {
    const messages: SseEvent[] = [];
    const comments: string[] = [];
    const p = new SseParser((m) => messages.push(m), (c) => comments.push(c));
    p.push('retry: 2000\n: stream from seq 41\n\nid: 42\nevent: deployment.upd');
    p.push('ated\ndata: {"a":\ndata: 1}\n\n');
    p.push('id: 43\r\ndata: plain\r');
    p.push('\n\r\n: keepalive\n\n');
    expect(comments).toEqual(['stream from seq 41', 'keepalive']);
    expect(messages).toEqual([
      { id: '42', event: 'deployment.updated', data: '{"a":\n1}' },
      { id: '43', data: 'plain' },
    ]);
  });

  it('holds back a message until its blank line arrives', () => {
    const messages: SseEvent[] = [];
    const p = new SseParser((m) => messages.push(m));
    p.push('id: 1\ndata: x\n');
    expect(messages).toEqual([]);
    p.push('\n');
    expect(messages).toHaveLength(1);
  });
});
