import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './parser.js';

function parse(chunks: string[], { end = false } = {}): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = new SseParser(
    (e) => events.push(e),
    (c) => comments.push(c),
  );
  for (const c of chunks) p.push(c);
  if (end) p.end();
  return { events, comments };
}

/** Every way to cut `text` into two chunks, and one-character chunks. */
function splits(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const STREAM = (eol: string): string =>
  [': stream from seq 0', '', 'id: 4', 'event: route.updated', 'data: {"a":1}', '', ': keepalive', '', 'id: 5', 'data: x', 'data:y', 'data', '', 'data: [DONE]', '', ''].join(eol);

const EXPECTED: SseEvent[] = [
  { id: '4', event: 'route.updated', data: '{"a":1}' },
  // The id persists; the event name does not.
  { id: '5', data: 'x\ny\n' },
  { id: '5', data: '[DONE]' },
];

describe('the event-stream parser', () => {
  for (const [name, eol] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ] as const) {
    it(`reads a stream framed with ${name}, however it is split into chunks`, () => {
      for (const chunks of splits(STREAM(eol))) {
        const { events, comments } = parse(chunks);
        expect(events, JSON.stringify(chunks)).toEqual(EXPECTED);
        expect(comments).toEqual(['stream from seq 0', 'keepalive']);
      }
    });
  }

  it('takes a CRLF split between two chunks as one line end, not two', () => {
    // Were the LF read as a second line end, the blank line would dispatch `a` alone.
    const { events } = parse(['data: a\r', '\ndata: b\r\n\r\n']);
    expect(events).toEqual([{ data: 'a\nb' }]);
  });

  it('holds an event back until its blank line, and takes a last event without one when the stream ends', () => {
    const events: SseEvent[] = [];
    const p = new SseParser((e) => events.push(e));
    p.push('data: {"x":1}\n\ndata: [DONE]');
    expect(events).toEqual([{ data: '{"x":1}' }]);
    p.end();
    expect(events).toEqual([{ data: '{"x":1}' }, { data: '[DONE]' }]);
    expect(parse(['data: last\r\n'], { end: true }).events).toEqual([{ data: 'last' }]);
  });

  it('drops a leading byte-order mark, ignores retry and unknown fields, and dispatches nothing for a blank line alone', () => {
    const { events } = parse(['\ufeffretry: 2000\n\n\nfoo: bar\nevent: ping\n\ndata: ok\n\n']);
    expect(events).toEqual([{ data: 'ok' }]);
  });

  it('keeps a colon inside a value and only one leading space', () => {
    const { events } = parse(['data:  two spaces: kept\n\n']);
    expect(events).toEqual([{ data: ' two spaces: kept' }]);
  });
});
