import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { AlignedToken, EditCounts } from './wer.js';

/**
 * Why a request did not succeed. `dropped` arrivals were never sent (an open-loop run at its
 * in-flight cap); `cancelled` ones were cut short by the end of the run.
 */
export const ERROR_KINDS = ['connect', 'timeout', 'reset', 'http_429', 'http_4xx', 'http_5xx', 'bad_response', 'dropped', 'cancelled', 'error'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Where a token count came from: the server's `usage`, our own tokenizer on the text, or nowhere. */
export type TokenSource = 'usage' | 'tokenizer' | 'none';

/** The score of one transcription against its reference. */
export interface RecordScore {
  words: EditCounts;
  chars: EditCounts;
  /** Word edits over reference words; null for an empty reference. */
  wer: number | null;
  ops: AlignedToken[];
}

/**
 * One request as the client saw it. Times are milliseconds from the run's start time (shared by all
 * clients), at microsecond resolution. `intended` is when the schedule said to send it; `sent` is
 * when it went; the gap is schedule lag, and latencies are reported from both.
 */
export interface RequestRecord {
  /** Request number across all clients of the stage. */
  i: number;
  shard: number;
  stage: number;
  /** Dataset item id. */
  item: string;
  phase: 'warmup' | 'measure' | 'cooldown';
  intended: number;
  sent: number;
  /** Response headers arrived. */
  firstByte: number | null;
  /** First chunk carrying generated content (streams); the whole answer otherwise. */
  firstToken: number | null;
  /** Arrival time of every content chunk, in order (streams). */
  chunks: number[];
  end: number;
  status: number | null;
  error: { kind: ErrorKind; message: string } | null;
  inputTokens: number | null;
  outputTokens: number | null;
  inputSource: TokenSource;
  outputSource: TokenSource;
  /** The transcript (ASR), or null. */
  text: string | null;
  reference: string | null;
  audioSeconds: number | null;
  score: RecordScore | null;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Rounds a record's times to the microsecond, in place, for compact JSONL; returns it. */
export function compact(r: RequestRecord): RequestRecord {
  r.intended = round3(r.intended);
  r.sent = round3(r.sent);
  if (r.firstByte !== null) r.firstByte = round3(r.firstByte);
  if (r.firstToken !== null) r.firstToken = round3(r.firstToken);
  const c = r.chunks;
  for (let k = 0; k < c.length; k++) c[k] = round3(c[k]!);
  r.end = round3(r.end);
  return r;
}

/**
 * Appends records to a JSONL file, buffered: lines are written in batches so a fast run is not held
 * up by one write per request, and `flush()` makes what has been recorded durable (a crash loses at
 * most the last batch interval).
 */
export class RecordWriter {
  private stream: WriteStream | undefined;
  private buffer: string[] = [];
  private opened: Promise<void> | undefined;
  count = 0;

  constructor(readonly file: string) {}

  private open(): Promise<void> {
    this.opened ??= (async () => {
      await mkdir(dirname(this.file), { recursive: true });
      this.stream = createWriteStream(this.file, { flags: 'w' });
    })();
    return this.opened;
  }

  /** Adds a record (already compacted by the engine). */
  add(record: RequestRecord): void {
    this.buffer.push(JSON.stringify(record));
    this.count++;
    if (this.buffer.length >= 2000) void this.flush();
  }

  async flush(): Promise<void> {
    await this.open();
    if (this.buffer.length === 0) return;
    const text = `${this.buffer.join('\n')}\n`;
    this.buffer = [];
    const stream = this.stream!;
    await new Promise<void>((resolve, reject) => stream.write(text, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    await this.flush();
    const stream = this.stream!;
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}

/** Reads a records file; a torn last line (a crash mid-write) is skipped, every whole line is kept. */
export async function* readRecords(file: string): AsyncGenerator<RequestRecord> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let record: RequestRecord;
    try {
      record = JSON.parse(line) as RequestRecord;
    } catch {
      continue;
    }
    yield record;
  }
}

export async function readAllRecords(file: string): Promise<RequestRecord[]> {
  const out: RequestRecord[] = [];
  for await (const r of readRecords(file)) out.push(r);
  return out;
}
