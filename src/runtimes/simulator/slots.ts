/** A request that wants a sequence slot. `state` is managed by SequenceSlots. */
export interface SlotWaiter {
  admit(): void;
  state?: 'waiting' | 'running' | 'withdrawn';
}

/**
 * Sequence slots: at most `capacity` requests generate at once (vLLM's max_num_seqs); the rest wait
 * in arrival order. Admission calls `admit` synchronously, so a request that finds a free slot starts
 * in the same tick it arrived.
 */
export class SequenceSlots {
  private queue: (SlotWaiter | undefined)[] = [];
  private head = 0;
  private waitingCount = 0;
  private runningCount = 0;

  constructor(
    readonly capacity: number,
    private readonly onChange: (running: number, waiting: number) => void = () => undefined,
  ) {}

  get running(): number {
    return this.runningCount;
  }

  get waiting(): number {
    return this.waitingCount;
  }

  /** Admits at once if a slot is free and nobody waits, else queues. */
  acquire(w: SlotWaiter): void {
    if (this.runningCount < this.capacity && this.waitingCount === 0) {
      this.runningCount++;
      w.state = 'running';
      this.onChange(this.runningCount, this.waitingCount);
      w.admit();
      return;
    }
    w.state = 'waiting';
    this.queue.push(w);
    this.waitingCount++;
    this.onChange(this.runningCount, this.waitingCount);
  }

  /** A waiting request went away; it leaves the count now and the queue when its turn comes. */
  withdraw(w: SlotWaiter): void {
    if (w.state !== 'waiting') return;
    w.state = 'withdrawn';
    this.waitingCount--;
    this.onChange(this.runningCount, this.waitingCount);
  }

  /** A running request finished or was aborted; the oldest waiter, if any, takes its slot. */
  release(w: SlotWaiter): void {
    if (w.state !== 'running') return;
    w.state = 'withdrawn';
    this.runningCount--;
    const admitted: SlotWaiter[] = [];
    while (this.runningCount < this.capacity && this.head < this.queue.length) {
      const next = this.queue[this.head];
      this.queue[this.head++] = undefined;
      if (!next || next.state !== 'waiting') continue;
      next.state = 'running';
      this.waitingCount--;
      this.runningCount++;
      admitted.push(next);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.onChange(this.runningCount, this.waitingCount);
    for (const a of admitted) a.admit();
  }
}
