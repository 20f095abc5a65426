import { performance } from 'node:perf_hooks';

/** A callback due at an absolute time on the `performance.now()` scale, in milliseconds. */
export interface ScheduledTask {
  due: number;
  run(now: number): void;
  /** Set by `cancel`; a cancelled task stays in the heap until its turn and is then skipped. */
  cancelled?: boolean;
}

export interface SchedulerOptions {
  /**
   * How close to a due time the scheduler stops sleeping on a timer and polls the event loop instead
   * (setImmediate), in milliseconds. libuv timers have millisecond resolution and read a clock cached
   * at the start of each loop iteration, so they fire up to about a millisecond early or late; polling
   * the last stretch makes tasks run within tens of microseconds of their due time, at the cost of a
   * busy core while tasks are that close together. 0 sleeps on timers only.
   */
  spinMs?: number;
  /**
   * Tasks due within this many milliseconds run now rather than after another wait. With spinMs 0 it
   * centres the timer's lateness on the due time instead of half a millisecond after it.
   */
  earlyMs?: number;
  now?: () => number;
}

/**
 * One timer for every scheduled task of the process, ordered by a binary heap of absolute due times.
 * Streams schedule each token at start + ttft + i·itl, never relative to the previous token, so
 * lateness never accumulates; and thousands of streams share one timer instead of one each.
 */
export class Scheduler {
  private readonly heap: ScheduledTask[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private armedFor = Infinity;
  private readonly spinMs: number;
  private readonly earlyMs: number;
  private readonly now: () => number;
  private closed = false;
  private running = false;

  constructor(opts: SchedulerOptions = {}) {
    this.spinMs = opts.spinMs ?? 1;
    this.earlyMs = opts.earlyMs ?? 0;
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.heap.length;
  }

  schedule(task: ScheduledTask): ScheduledTask {
    if (this.closed) return task;
    this.push(task);
    // Inside a tick the scheduler re-arms once at the end instead of once per task.
    if (!this.running && task.due < this.armedFor) this.arm();
    return task;
  }

  /** Schedules `run` at `due`; a shorthand for `schedule({ due, run })`. */
  at(due: number, run: (now: number) => void): ScheduledTask {
    return this.schedule({ due, run });
  }

  cancel(task: ScheduledTask): void {
    task.cancelled = true;
  }

  /** Drops every task and stops the timer. */
  close(): void {
    this.closed = true;
    this.heap.length = 0;
    this.disarm();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.armedFor = Infinity;
  }

  private arm(): void {
    this.disarm();
    const top = this.heap[0];
    if (!top) return;
    const wait = top.due - this.earlyMs - this.now();
    this.armedFor = top.due;
    if (wait <= this.spinMs) {
      this.immediate = setImmediate(this.tick);
    } else {
      // Wake a little before the due time; the last stretch is polled (see spinMs).
      const sleep = Math.max(0, Math.floor(wait - this.spinMs));
      this.timer = setTimeout(this.tick, sleep);
    }
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    this.armedFor = Infinity;
    let now = this.now();
    // A small budget per wake keeps one burst of due tasks from starving socket reads and writes.
    const deadline = now + 4;
    this.running = true;
    try {
      for (;;) {
        const top = this.heap[0];
        if (!top || top.due > now + this.earlyMs) break;
        this.pop();
        if (!top.cancelled) top.run(now);
        now = this.now();
        if (now > deadline) break;
      }
    } finally {
      this.running = false;
      if (!this.closed) this.arm();
    }
  };

  private push(task: ScheduledTask): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.due <= task.due) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = task;
  }

  private pop(): ScheduledTask | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.due < h[l]!.due ? r : l;
      if (h[c]!.due >= last.due) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
