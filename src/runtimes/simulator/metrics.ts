import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** vLLM's bucket boundaries, so dashboards built for vLLM read the simulator unchanged. */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

export type FinishReason = 'stop' | 'length' | 'abort';

/** The Prometheus metrics vLLM exports that a router or autoscaler reads, with the same names and labels. */
export class SimulatorMetrics {
  readonly registry = new Registry();
  private readonly running: Gauge;
  private readonly waiting: Gauge;
  private readonly kvUsage: Gauge[];
  private readonly ttft: Histogram;
  private readonly tpot: Histogram;
  private readonly e2e: Histogram;
  private readonly queueTime: Histogram;
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly promptTokensPerRequest: Histogram;
  private readonly generationTokensPerRequest: Histogram;
  private readonly success: Counter;

  constructor(readonly modelName: string, private readonly maxConcurrency: number) {
    const r = [this.registry];
    const labelNames = ['model_name'];
    this.running = new Gauge({ name: 'vllm:num_requests_running', help: 'Number of requests in model execution batches.', labelNames, registers: r });
    this.waiting = new Gauge({ name: 'vllm:num_requests_waiting', help: 'Number of requests waiting to be processed.', labelNames, registers: r });
    this.kvUsage = ['vllm:gpu_cache_usage_perc', 'vllm:kv_cache_usage_perc'].map(
      (name) => new Gauge({ name, help: 'KV-cache usage (simulated: running sequences / max concurrency). 1 means 100 percent usage.', labelNames, registers: r }),
    );
    this.ttft = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.', labelNames, buckets: TTFT_BUCKETS, registers: r });
    this.tpot = new Histogram({ name: 'vllm:time_per_output_token_seconds', help: 'Histogram of time per output token in seconds.', labelNames, buckets: TPOT_BUCKETS, registers: r });
    this.e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of end to end request latency in seconds.', labelNames, buckets: LATENCY_BUCKETS, registers: r });
    this.queueTime = new Histogram({ name: 'vllm:request_queue_time_seconds', help: 'Histogram of time spent in WAITING phase for request.', labelNames, buckets: LATENCY_BUCKETS, registers: r });
    this.promptTokens = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers: r });
    this.generationTokens = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers: r });
    this.promptTokensPerRequest = new Histogram({ name: 'vllm:request_prompt_tokens', help: 'Number of prefill tokens processed.', labelNames, buckets: TOKEN_BUCKETS, registers: r });
    this.generationTokensPerRequest = new Histogram({ name: 'vllm:request_generation_tokens', help: 'Number of generation tokens processed.', labelNames, buckets: TOKEN_BUCKETS, registers: r });
    this.success = new Counter({ name: 'vllm:request_success_total', help: 'Count of successfully processed requests.', labelNames: ['model_name', 'finished_reason'], registers: r });
    this.setQueue(0, 0);
  }

  setQueue(running: number, waiting: number): void {
    this.running.set({ model_name: this.modelName }, running);
    this.waiting.set({ model_name: this.modelName }, waiting);
    for (const g of this.kvUsage) g.set({ model_name: this.modelName }, running / this.maxConcurrency);
  }

  firstToken(seconds: number): void {
    this.ttft.observe({ model_name: this.modelName }, seconds);
  }

  /** One finished (or aborted) generation request. */
  finished(r: { queueSeconds: number; e2eSeconds: number; tpotSeconds: number | undefined; promptTokens: number; generationTokens: number; reason: FinishReason }): void {
    const l = { model_name: this.modelName };
    this.queueTime.observe(l, r.queueSeconds);
    this.e2e.observe(l, r.e2eSeconds);
    if (r.tpotSeconds !== undefined) this.tpot.observe(l, r.tpotSeconds);
    this.promptTokens.inc(l, r.promptTokens);
    this.generationTokens.inc(l, r.generationTokens);
    this.promptTokensPerRequest.observe(l, r.promptTokens);
    this.generationTokensPerRequest.observe(l, r.generationTokens);
    if (r.reason !== 'abort') this.success.inc({ model_name: this.modelName, finished_reason: r.reason });
  }

  /** Prompt tokens of requests that generate nothing (embeddings). */
  prompt(tokens: number): void {
    this.promptTokens.inc({ model_name: this.modelName }, tokens);
  }
}
