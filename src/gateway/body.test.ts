import { describe, expect, it } from 'vitest';
import { multipartBoundary, multipartField, promptPrefix, usageFrom } from './body.js';
import { SseParser, type SseEvent } from '../sse/index.js';

describe('request and response reading', () => {
  it('finds a form field in a multipart body without reading the file as text', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('name="model"\r\n\r\nnot-this')]), 'clip.wav');
    form.append('model', 'whisper-large');
    const req = new Request('http://x', { method: 'POST', body: form });
    const boundary = multipartBoundary(req.headers.get('content-type') ?? undefined)!;
    const body = Buffer.from(await req.arrayBuffer());
    expect(multipartField(body, boundary, 'model')).toBe('whisper-large');
    expect(multipartField(body, boundary, 'language')).toBeUndefined();
    expect(multipartBoundary('application/json')).toBeUndefined();
  });

  it('reads usage from the end of a response or stream', () => {
    expect(usageFrom(Buffer.from('{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'))).toEqual({ prompt: 12, completion: 5 });
    expect(usageFrom(Buffer.from('data: {"usage":null}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}\n\ndata: [DONE]\n\n'))).toEqual({
      prompt: 3,
      completion: 9,
    });
    expect(usageFrom(Buffer.from('{"object":"list","usage":{"prompt_tokens":4,"total_tokens":4}}'))).toEqual({ prompt: 4, completion: 0 });
    expect(usageFrom(Buffer.from('data: {"usage":null}\n\n'))).toBeUndefined();
  });

  it('takes the head of a prompt for prefix affinity', () => {
    expect(promptPrefix({ prompt: 'abc' })).toBe('abc');
    expect(promptPrefix({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }] })).toBe('system:Be brief.\nHi');
    expect(promptPrefix({ input: 'x' })).toBeUndefined();
    expect(promptPrefix({ prompt: 'y'.repeat(5000) })!.length).toBe(1024);
  });

  it('parses server-sent events split anywhere, skipping keepalive comments', () => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    const text = ': stream from seq 0\n\nid: 4\nevent: route.updated\ndata: {"a":1}\n\n: keepalive\n\nid: 5\r\nevent: key.revoked\r\ndata: x\r\ndata: y\r\n\r\n';
    for (let i = 0; i < text.length; i += 3) p.push(text.slice(i, i + 3));
    expect(got).toEqual([
      { id: '4', event: 'route.updated', data: '{"a":1}' },
      { id: '5', event: 'key.revoked', data: 'x\ny' },
    ]);
  });
});
