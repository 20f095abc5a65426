/**
 * The one text/event-stream parser, shared by the gateway (control-plane events), the load engine
 * (model servers' token streams) and the web console (which imports this file as it is: it must stay
 * free of imports and of Node-only APIs).
 *
 * It follows the WHATWG event-stream rules: lines end with CRLF, LF or CR (a CRLF split across two
 * chunks is one line end); a line starting with `:` is a comment; `data` lines of one event join with
 * `\n`; a blank line dispatches the event; `id` persists to later events; a leading BOM is dropped.
 * One leniency: `end()` dispatches an event the stream left without its blank line, because model
 * servers do end with `data: [DONE]\n` alone, and that answer is complete.
 *
 * It is incremental and cheap per chunk: only a partial line is carried between chunks, lines are
 * found by scanning character codes (no regular expressions, no re-slicing of a growing buffer), and
 * nothing is allocated for a chunk beyond its lines' values.
 */

/** One Server-Sent Event. */
export interface SseEvent {
  /** The last `id` the stream set (ids persist from event to event), if any. */
  id?: string;
  /** The `event` field of this event; absent means the default type, `message`. */
  event?: string;
  data: string;
}

const LF = 10;
const CR = 13;
const SPACE = 32;

export class SseParser {
  /** A line begun in an earlier chunk. */
  private partial = '';
  /** The previous chunk ended with CR, so an LF at the start of this one belongs to it. */
  private afterCr = false;
  private started = false;
  private data = '';
  private hasData = false;
  private event: string | undefined = undefined;
  private id: string | undefined = undefined;

  constructor(
    private readonly onEvent: (ev: SseEvent) => void,
    private readonly onComment?: (text: string) => void,
  ) {}

  /** Feeds decoded text; calls back for each event (and comment) it completes. */
  push(chunk: string): void {
    let start = 0;
    const n = chunk.length;
    if (!this.started && n > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.afterCr && n > start) {
      this.afterCr = false;
      if (chunk.charCodeAt(start) === LF) start++;
    }
    for (let i = start; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      let line = chunk.slice(start, i);
      if (this.partial !== '') {
        line = this.partial + line;
        this.partial = '';
      }
      this.line(line);
      if (c === CR) {
        if (i + 1 < n) {
          if (chunk.charCodeAt(i + 1) === LF) i++;
        } else {
          this.afterCr = true;
        }
      }
      start = i + 1;
    }
    if (start < n) this.partial += start === 0 ? chunk : chunk.slice(start);
  }

  /** The stream has ended: a last line and event left without their line ends still count. */
  end(): void {
    if (this.partial !== '') {
      const line = this.partial;
      this.partial = '';
      this.line(line);
    }
    this.line('');
    this.afterCr = false;
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.hasData) {
        const ev: SseEvent = { data: this.data };
        if (this.id !== undefined) ev.id = this.id;
        if (this.event !== undefined) ev.event = this.event;
        this.data = '';
        this.hasData = false;
        this.event = undefined;
        this.onEvent(ev);
      } else {
        this.event = undefined;
      }
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      if (this.onComment) this.onComment(line.charCodeAt(1) === SPACE ? line.slice(2) : line.slice(1));
      return;
    }
    let value = '';
    let field = line;
    if (colon > 0) {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1);
    }
    switch (field) {
      case 'data':
        if (this.hasData) this.data += '\n' + value;
        else {
          this.data = value;
          this.hasData = true;
        }
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        // `retry` and unknown fields: nothing to do for our readers.
        break;
    }
  }
}

