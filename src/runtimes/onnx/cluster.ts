import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../../observability/index.js';

/**
 * Several processes serving one port (node:cluster): each loads the model and answers requests, so
 * HTTP and JSON work spreads over cores. /metrics sums every worker's counters through the primary.
 */

const METRICS_REQUEST = 'catapult:metrics-request';
const METRICS_RESPONSE = 'catapult:metrics-response';
const ALL_LISTENING = 'catapult:all-listening';

interface MetricsMessage {
  type: string;
  id: number;
  text?: string;
}

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Runs in the primary: forks `workers` copies of this very command and resolves with the shared port
 * once all listen. A worker that dies takes the replica down (exit 1), for its supervisor to restart.
 */
export async function runClusterPrimary(workers: number, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const aggregator = new AggregatorRegistry();
  let closing = false;
  cluster.on('message', (worker, msg: MetricsMessage) => {
    if (msg?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_RESPONSE, id: msg.id, text }),
      (err: unknown) => worker.send({ type: METRICS_RESPONSE, id: msg.id, text: `# metrics unavailable: ${String(err)}\n` }),
    );
  });
  cluster.on('exit', (worker, code, signal) => {
    if (closing) return;
    log.error({ pid: worker.process.pid, code, signal }, 'an onnx worker exited; stopping the replica');
    process.exit(1);
  });
  const ports = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<number>((resolve, reject) => {
          const w = cluster.fork();
          w.once('listening', (address) => resolve(address.port));
          w.once('exit', (code) => reject(new Error(`an onnx worker exited with code ${code} before listening`)));
        }),
    ),
  );
  for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: ALL_LISTENING, id: 0 });
  return {
    port: ports[0]!,
    async close() {
      closing = true;
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (w) =>
            new Promise<void>((resolve) => {
              if (!w || w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** Runs in a worker: its registry joins the cluster's, and /metrics asks the primary for the sum. */
export function workerMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries(registry);
  // prom-client starts answering the primary's requests only once an AggregatorRegistry exists here.
  new AggregatorRegistry();
  let next = 0;
  const pending = new Map<number, (text: string) => void>();
  process.on('message', (msg: MetricsMessage) => {
    if (msg?.type !== METRICS_RESPONSE) return;
    pending.get(msg.id)?.(msg.text ?? '');
    pending.delete(msg.id);
  });
  return () =>
    new Promise((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      process.send?.({ type: METRICS_REQUEST, id });
    });
}

/**
 * Runs in a worker: readiness waits until the primary reports every worker listening, so a probe
 * never sees a replica ready while some of its processes still load the model.
 */
export function workerReadiness(): () => boolean {
  let ready = false;
  process.on('message', (msg: MetricsMessage) => {
    if (msg?.type === ALL_LISTENING) ready = true;
  });
  return () => ready;
}
