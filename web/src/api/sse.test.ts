import { describe, expect, it } from 'vitest';
import { type SseMessage, SseParser } from './sse';

describe('the event-stream parser', () => {
  it('reads ids, event names and multi-line data across chunk boundaries, and comments', () => {
    const messages: SseMessage[] = [];
    const comments: string[] = [];
    const p = new SseParser((m) => messages.push(m), (c) => comments.push(c));
    p.push('retry: 2000\n: stream from seq 41\n\nid: 42\nevent: deployment.upd');
    p.push('ated\ndata: {"a":\ndata: 1}\n\n');
    p.push('id: 43\r\ndata: plain\r\n\r\n: keepalive\n\n');
    expect(comments).toEqual(['stream from seq 41', 'keepalive']);
    expect(messages).toEqual([
      { id: '42', event: 'deployment.updated', data: '{"a":\n1}' },
      { id: '43', event: 'message', data: 'plain' },
    ]);
  });

  it('holds back a message until its blank line arrives', () => {
    const messages: SseMessage[] = [];
    const p = new SseParser((m) => messages.push(m));
    p.push('id: 1\ndata: x\n');
    expect(messages).toEqual([]);
    p.push('\n');
    expect(messages).toHaveLength(1);
  });
});
