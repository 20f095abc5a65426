import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePortInRange, parsePortRange } from './net.js';

describe('port ranges', () => {
  it('reads FROM-TO and refuses reversed, privileged or malformed ranges', () => {
    expect(parsePortRange('20000-20999')).toEqual({ from: 20000, to: 20999 });
    expect(parsePortRange(' 30000 - 30000 ')).toEqual({ from: 30000, to: 30000 });
    for (const bad of ['20999-20000', '80-90', '20000', '20000-70000', 'a-b']) expect(() => parsePortRange(bad)).toThrow(/not a port range/);
  });

  it('hands out a port in the range that nothing listens on, and says so when the range is full', async () => {
    const from = 26_000 + Math.floor(Math.random() * 1_000) * 2;
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(from, '127.0.0.1', resolve));
    try {
      expect(await freePortInRange('127.0.0.1', { from, to: from + 1 })).toBe(from + 1);
      await expect(freePortInRange('127.0.0.1', { from, to: from + 1 }, new Set([from + 1]))).rejects.toThrow(/no free port in .* widen --port-range/);
    } finally {
      srv.close();
    }
  });
});
