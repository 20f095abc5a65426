import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The last `n` lines of a file, reading at most `maxBytes` from its end. */
export function tailFile(file: string, n: number, maxBytes = 256 * 1024): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = statSync(file).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (start > 0) lines.shift(); // first line is probably cut
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

/** Reads what was appended to a file since `offset`; returns the new text and the next offset. */
export function readFrom(file: string, offset: number, maxBytes = 1024 * 1024): { text: string; next: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { text: '', next: offset };
  }
  try {
    const size = statSync(file).size;
    if (size < offset) offset = 0; // truncated or replaced
    const len = Math.min(size - offset, maxBytes);
    if (len <= 0) return { text: '', next: offset };
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, offset);
    // Hand out whole lines only; keep a partial last line for the next read.
    const text = buf.toString('utf8');
    const cut = text.lastIndexOf('\n');
    if (cut < 0 && len < maxBytes) return { text: '', next: offset };
    const whole = cut < 0 ? text : text.slice(0, cut + 1);
    return { text: whole, next: offset + Buffer.byteLength(whole) };
  } finally {
    closeSync(fd);
  }
}
