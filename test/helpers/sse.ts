/** A minimal Server-Sent Events reader over fetch, for tests. */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

export interface SseStream {
  /** Resolves with the next `n` messages (waiting for them), or rejects after `timeoutMs`. */
  take(n: number, timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; stream: SseStream }> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const queue: SseMessage[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  if (res.ok && res.body) {
    const reader = res.body.getReader();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let idx: number;
          while ((idx = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, idx);
            buffer = buffer.slice(idx + 2);
            const msg: SseMessage = { data: '' };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') msg.id = value;
              else if (field === 'event') msg.event = value;
              else if (field === 'data') data.push(value);
            }
            if (data.length === 0) continue;
            msg.data = data.join('\n');
            queue.push(msg);
            for (const w of waiters.splice(0)) w();
          }
        }
      } catch {
        // Aborted by close().
      }
    })();
  }
  return {
    status: res.status,
    stream: {
      async take(n, timeoutMs = 10_000) {
        const deadline = Date.now() + timeoutMs;
        while (queue.length < n) {
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`timed out waiting for ${n} SSE messages (got ${queue.length})`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, left);
            waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
        return queue.splice(0, n);
      },
      close: () => controller.abort(),
    },
  };
}
