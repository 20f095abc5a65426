/** Renders rows as an aligned plain-text table with a header. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** "3m ago", "2h ago" from epoch milliseconds. */
export function ago(ms: number | null, now = Date.now()): string {
  if (ms === null) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Prints `data` as JSON with --json, else what `human` renders. */
export function output(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(`${json ? JSON.stringify(data, null, 2) : human()}\n`);
}

/**
 * Makes the CLI end quietly (exit 0) when whoever reads its output goes away, as in
 * `catapult bench export ID --format records-jsonl | head`: the next write fails with EPIPE, which
 * is the reader's choice, not an error. Installed once for every command.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}
