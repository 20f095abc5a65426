import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import type { EventLog } from '../events/index.js';
import { listModelFiles } from './files.js';

/** What the watcher needs from the registry. */
export interface WatchRegistry {
  findByHash(hash: string): Promise<{ id: string } | undefined>;
  registerWatched(input: { name: string; version: string; source: string; contentHash: string }): Promise<{ id: string }>;
}

export interface WatchOptions {
  /** A model is taken only once its files' sizes and times have not changed for this long. */
  stableMs: number;
  pollMs: number;
}

interface Candidate {
  signature: string;
  since: number;
  done: boolean;
}

/** sha256 over a model's bytes (a folder's files with their relative paths, in path order): its identity. */
export async function contentHash(path: string): Promise<string> {
  const single = !(await stat(path)).isDirectory();
  const { files } = await listModelFiles(path);
  const h = createHash('sha256');
  for (const f of files) {
    if (!single) h.update(`${f.rel}\0${f.size}\0`);
    for await (const chunk of createReadStream(f.abs)) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/**
 * Watches a folder: each file or sub-folder in it is one model, registered once it is stable and
 * once per content hash (a re-upload or a copy under another name is not a second model). A
 * symlink leading out of the folder, or any error, is reported as an event and skipped; the
 * watcher keeps going.
 */
export class FolderWatcher {
  private seen = new Map<string, Candidate>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly registry: WatchRegistry,
    private readonly events: EventLog,
    private readonly opts: WatchOptions,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.poll().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.pollMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over the folder; exposed for tests. */
  async poll(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      await this.report(this.dir, `cannot read the watched folder: ${(err as Error).message}`);
      return;
    }
    const root = await realpath(this.dir);
    for (const name of names) {
      const path = join(this.dir, name);
      const prev = this.seen.get(path);
      if (prev?.done) continue;
      try {
        const info = await lstat(path);
        if (info.isSymbolicLink()) {
          const target = await realpath(path).catch(() => '(dangling)');
          if (!target.startsWith(root + sep)) {
            this.seen.set(path, { signature: '', since: 0, done: true });
            await this.report(path, `symbolic link leads out of the watched folder (${target}); not registered`);
            continue;
          }
        }
        const signature = await this.signature(path);
        const now = this.now();
        if (!prev || prev.signature !== signature) {
          this.seen.set(path, { signature, since: now, done: false });
          continue;
        }
        if (now - prev.since < this.opts.stableMs) continue;
        prev.done = true;
        const hash = await contentHash(path);
        if (await this.registry.findByHash(hash)) continue;
        const stem = basename(name).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'model';
        await this.registry.registerWatched({ name: stem.slice(0, 100), version: hash.slice(0, 12), source: path, contentHash: hash });
      } catch (err) {
        this.seen.set(path, { signature: '', since: 0, done: true });
        await this.report(path, (err as Error).message);
      }
    }
  }

  private async signature(path: string): Promise<string> {
    const { files } = await listModelFiles(path);
    const parts: string[] = [];
    for (const f of files) {
      const st = await lstat(f.abs);
      parts.push(`${f.rel}:${st.size}:${st.mtimeMs}`);
    }
    return parts.join('|');
  }

  private async report(path: string, message: string): Promise<void> {
    await this.events.publish({ type: 'model.watch_rejected', subject: { kind: 'watch', id: this.dir }, data: { path, message } });
  }
}
