import { readFileSync, writeFileSync } from 'node:fs';
import { Bar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { BenchmarkView, ProgressView, ResultsView, SlurmRunView, StageResults } from '../../bench/index.js';
import { loadConfigFromProcess } from '../../config/index.js';
import { ApiClient, ApiError } from '../client.js';
import { ago, output, table } from '../format.js';

function client(): ApiClient {
  return ApiClient.fromConfig(loadConfigFromProcess());
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(v < 10 ? 2 : 1)}ms`);
const rate = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(v < 10 ? 2 : 1));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);

function readRecipe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the recipe ${file}: ${(err as Error).message}`);
  }
}

/** Re-throws a recipe error with `file:line:` in front of each problem, as compilers do. */
function withFile(err: unknown, file: string): never {
  if (err instanceof ApiError && err.code === 'CATAPULT_RECIPE_INVALID' && err.errors) {
    const lines = (err.errors as { path: string; message: string; line?: number | null }[]).map((e) => `${file}:${e.line ?? '?'}: ${e.path || '(top)'}: ${e.message}`);
    throw new Error(`the recipe is invalid:\n${lines.join('\n')}`);
  }
  throw err;
}

/** The per-stage metrics table people read after a run; token and token-timing columns only for LLM APIs. */
export function stagesTable(stages: StageResults[], llm = true): string {
  const t = (v: string) => (llm ? v : '-');
  return table(
    ['STAGE', 'SENT', 'OK', 'ERR', 'REQ/S', 'TOK/S', 'TTFT p50', 'TTFT p99', 'ITL p50', 'TPOT p50', 'E2E p50', 'E2E p99', 'LAG p99', 'GOODPUT'],
    stages.map((s) => [
      s.label,
      s.requests.sent,
      s.requests.ok,
      s.requests.errors + s.requests.dropped,
      rate(s.throughput.requestsPerS),
      t(rate(s.throughput.outputTokensPerS)),
      t(ms(s.latency.ttft.p50)),
      t(ms(s.latency.ttft.p99)),
      t(ms(s.latency.itl.p50)),
      t(ms(s.latency.tpot.p50)),
      ms(s.latency.e2e.p50),
      ms(s.latency.e2e.p99),
      ms(s.scheduleLagMs.p99),
      s.goodput ? `${rate(s.goodput.requestsPerS)}/s (${pct(s.goodput.share)})` : '-',
    ]),
  );
}

function isoOf(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** Seed 004's view: the service's Slurm jobs and the client jobs, with ids, states, times and files. */
function describeSlurm(s: SlurmRunView): string[] {
  const lines = [`  Slurm cluster ${s.cluster}`];
  if (s.service) {
    lines.push(`  service    ${s.service.name} at ${s.service.url}`);
    if (s.service.jobs.length > 0) {
      lines.push(
        table(
          ['REPLICA', 'JOB', 'STATE', 'SLURM', 'HOST', 'SUBMITTED', 'STARTED', 'READY'],
          s.service.jobs.map((j) => [j.replica, j.jobId ?? '-', j.state, j.jobState ?? '-', j.hostname ?? '-', isoOf(j.submittedAt), isoOf(j.startedAt), isoOf(j.readyAt)]),
        ).replace(/^/gm, '    '),
      );
    }
  }
  if (s.clients.length > 0) {
    lines.push(
      '  clients',
      table(
        ['CLIENT', 'JOB', 'STATE', 'HOST', 'SUBMITTED', 'STARTED', 'ENDED'],
        s.clients.map((c) => [c.name, c.jobId, c.state, c.hostname ?? '-', c.submitTime ?? '-', c.startTime ?? '-', c.endTime ?? '-']),
      ).replace(/^/gm, '    '),
    );
    for (const c of s.clients) {
      lines.push(`    ${c.name}: dir ${c.workingDir}; log ${c.collected.log ?? `${c.logFile} (not collected)`}; metrics ${c.collected.metrics ?? `${c.metricsFile} (none written)`}`);
    }
  }
  return lines;
}

function describeRun(b: BenchmarkView, r: ResultsView): string {
  const lines = [
    `${b.name} (${b.id})`,
    `  state      ${b.state}${b.reason ? ` — ${b.reason}` : ''}`,
    `  target     ${b.target.kind} ${b.target.ref}${b.target.url && b.target.url !== b.target.ref ? ` (${b.target.url})` : ''}`,
    b.where === 'slurm'
      ? `  clients    ${b.clients} command client(s) on Slurm: ${b.recipe.clients.command ?? ''}`
      : `  workload   ${b.api}${b.model ? `, model ${b.model}` : ''}, ${b.clients} client(s)${b.where === 'agents' ? ' on agents' : ''}`,
    `  started    ${b.startedAt ? ago(b.startedAt) : 'not yet'}${b.finishedAt && b.startedAt ? `, took ${((b.finishedAt - b.startedAt) / 1000).toFixed(1)}s` : ''}`,
  ];
  const llm = b.api.startsWith('openai');
  if (r.stages.length > 0) lines.push('', stagesTable(r.stages, llm).replace(/^/gm, '  '));
  for (const s of r.stages) {
    const kinds = Object.entries(s.errorsByKind);
    if (kinds.length > 0) {
      lines.push(`  ${s.label} errors: ${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      for (const [k] of kinds) for (const msg of s.errorSamples?.[k] ?? []) lines.push(`    ${k}: ${msg}`);
    }
    const sources = Object.keys(s.tokens.outputSources);
    if (llm && sources.some((x) => x !== 'usage')) lines.push(`  ${s.label} output tokens counted by: ${Object.entries(s.tokens.outputSources).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  if (b.slurm) lines.push('', ...describeSlurm(b.slurm));
  const ev = r.evaluation;
  if (ev) {
    lines.push(
      '',
      `  WER ${pct(ev.wer)}  CER ${pct(ev.cer)}  over ${ev.scored} utterance(s)${ev.failed ? `, ${ev.failed} failed (not scored)` : ''}; normaliser ${ev.normalizer}`,
      `  words: ${ev.words.substitutions} substituted, ${ev.words.deletions} deleted, ${ev.words.insertions} inserted of ${ev.words.referenceLength}${ev.rtfx !== null ? `; RTFx ${ev.rtfx.toFixed(1)} over ${ev.audioSeconds?.toFixed(1)} s of audio` : ''}`,
    );
    for (const w of ev.worst.slice(0, 5)) {
      lines.push(`  ${w.id}: ${w.edits} edit(s)`, `    ref: ${w.reference}`, `    hyp: ${w.hypothesis}`);
    }
  }
  return lines.join('\n');
}

/**
 * What the progress bar shows for one progress report. A stage with a request count fills by
 * requests; one with only a duration, by time (never past its duration: in-flight requests finish
 * after it). Counts are the measured requests, as the results will count them; warmup and cooldown
 * requests are named apart.
 */
export function barFrame(p: ProgressView): { total: number; value: number; payload: Record<string, string | number> } {
  const byTime = p.total === null && p.durationS !== null;
  const extra = p.excluded > 0 ? ` (+${p.excluded} warmup/cooldown)` : '';
  const elapsed = byTime ? Math.min(p.elapsedS, p.durationS!) : p.elapsedS;
  return {
    total: byTime ? Math.round(p.durationS! * 10) : (p.total ?? Math.max(p.done, 1)),
    value: byTime ? Math.round(elapsed * 10) : p.done,
    payload: {
      label: p.stageLabel,
      count: byTime ? `${elapsed.toFixed(0)}s/${p.durationS}s ${p.sent} req${extra}` : `${p.done}/${p.total ?? '?'}${extra}`,
      rate: Math.max(0, p.ratePerS).toFixed(1),
      errors: p.errors,
      ttft50: ms(p.ttftP50Ms),
      ttft99: ms(p.ttftP99Ms),
      e2e50: ms(p.e2eP50Ms),
      e2e99: ms(p.e2eP99Ms),
    },
  };
}

/** Follows a run with a progress bar until it ends; Ctrl-C cancels it. */
async function follow(c: ApiClient, id: string, showBar: boolean): Promise<BenchmarkView> {
  let bar: Bar | undefined;
  let stage = -1;
  let previous: ProgressView | undefined;
  let cancelling = false;
  const onSigint = () => {
    if (cancelling) process.exit(130);
    cancelling = true;
    bar?.stop();
    bar = undefined;
    process.stderr.write(`cancelling ${id} (Ctrl-C again to leave it running)…\n`);
    c.post(`/api/v1/benchmarks/${id}/cancel`, {}).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    for (;;) {
      const b = await c.get<BenchmarkView>(`/api/v1/benchmarks/${encodeURIComponent(id)}`);
      const p = b.progress;
      if (showBar && !cancelling && p && (b.state === 'running' || (bar && p.stage === stage))) {
        const frame = barFrame(p);
        if (p.stage !== stage) {
          // Close the previous stage's bar on its final counts, which the next polls would not show.
          const last = previous && p.finished.find((f) => f.stage === previous!.stage);
          if (bar && previous && last) {
            const closed = barFrame({ ...previous, done: last.done, sent: last.sent, excluded: last.excluded, errors: last.errors, elapsedS: previous.durationS ?? previous.elapsedS });
            bar.setTotal(closed.total);
            bar.update(closed.value, closed.payload);
          }
          bar?.stop();
          stage = p.stage;
          bar = new Bar(
            {
              format: ` ${p.stages > 1 ? `[${p.stage + 1}/${p.stages}] ` : ''}{label} {bar} {count} | {rate} req/s | err {errors} | TTFT p50 {ttft50} p99 {ttft99} | E2E p50 {e2e50} p99 {e2e99}`,
              hideCursor: true,
              clearOnComplete: false,
              barsize: 24,
            },
            Presets.shades_classic,
          );
          // The first frame already carries the values: a bar started empty draws its raw template.
          bar.start(frame.total, frame.value, frame.payload);
        } else {
          bar?.setTotal(frame.total);
          bar?.update(frame.value, frame.payload);
        }
        previous = p;
      }
      if (FINAL.has(b.state)) return b;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    // Ends the bar's line before anything else is printed (results, or an error).
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('Benchmarks and evaluations: run recipes, watch them, read and compare results');

  bench
    .command('run <recipe>')
    .description('Run a recipe (YAML) against a deployment, endpoint, URL or a service it deploys; shows live progress, then the results')
    .option('--detach', 'print the benchmark id and return at once')
    .option('--no-progress', 'no progress bar (also off when stdout is not a terminal)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { detach?: boolean; progress?: boolean; json?: boolean }) => {
      const c = client();
      const created = await c.post<BenchmarkView>('/api/v1/benchmarks', { yaml: readRecipe(file) }).catch((err: unknown) => withFile(err, file));
      if (o.detach) {
        output(o.json, created, () => `Started ${created.name} (${created.id}). Follow it with: catapult bench show ${created.id}`);
        return;
      }
      if (!o.json) process.stderr.write(`benchmark ${created.id} (${created.name}) queued\n`);
      const b = await follow(c, created.id, o.progress !== false && !o.json && process.stderr.isTTY === true);
      const r = await c.get<ResultsView>(`/api/v1/benchmarks/${encodeURIComponent(b.id)}/results`);
      output(o.json, { benchmark: b, results: r }, () => describeRun(b, r));
      if (b.state !== 'completed') process.exitCode = 1;
    });

  bench
    .command('validate <recipe>')
    .description('Check a recipe without running it; problems are printed as FILE:LINE: PATH: MESSAGE')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const res = await client().post<{ valid: boolean; errors: { path: string; line: number | null; message: string }[] }>('/api/v1/benchmarks/validate', { yaml: readRecipe(file) });
      output(o.json, res, () => (res.valid ? `${file}: valid` : res.errors.map((e) => `${file}:${e.line ?? '?'}: ${e.path || '(top)'}: ${e.message}`).join('\n')));
      if (!res.valid) process.exitCode = 1;
    });

  bench
    .command('eval')
    .description('Evaluate an ASR endpoint on a dataset (every utterance once): WER and CER')
    .option('--endpoint-url <url>', 'the server, e.g. http://gpu-node-1:26007')
    .option('--endpoint <id>', 'a registered endpoint (id or name)')
    .option('--deployment <name>', 'a deployment, through the gateway')
    .requiredOption('--dataset <path>', 'an ASR manifest (.jsonl of {audio, text}) or a Hugging Face .arrow file (on the control plane machine)')
    .option('--model <name>', 'the model field to send')
    .option('--concurrency <n>', 'requests in flight', '4')
    .option('--audio-encoding <e>', 'multipart (OpenAI form upload) or json-base64 ({ audio, model } as JSON)')
    .option('--load-epochs <n>', 'also run a load stage: this many passes over the dataset, with latency and RTFx')
    .option('--json', 'print JSON')
    .action(async (o: { endpointUrl?: string; endpoint?: string; deployment?: string; dataset: string; model?: string; concurrency: string; audioEncoding?: string; loadEpochs?: string; json?: boolean }) => {
      const c = client();
      const created = await c.post<BenchmarkView>('/api/v1/benchmarks/async', {
        asr_eval_dataset: o.dataset,
        evaluation_only: o.loadEpochs === undefined,
        ...(o.loadEpochs !== undefined ? { load_epochs: Number(o.loadEpochs) } : {}),
        ...(o.audioEncoding ? { audio_encoding: o.audioEncoding } : {}),
        concurrency: Number(o.concurrency),
        ...(o.endpointUrl ? { endpoint_url: o.endpointUrl } : {}),
        ...(o.endpoint ? { production_endpoint_id: o.endpoint } : {}),
        ...(o.deployment ? { deployment: o.deployment } : {}),
        ...(o.model ? { model: o.model } : {}),
      });
      const b = await follow(c, created.id, !o.json && process.stderr.isTTY === true);
      const r = await c.get<ResultsView>(`/api/v1/benchmarks/${encodeURIComponent(b.id)}/results`);
      output(o.json, { benchmark: b, results: r }, () => describeRun(b, r));
      if (b.state !== 'completed') process.exitCode = 1;
    });

  const show = async (id: string, o: { json?: boolean }) => {
    const c = client();
    const b = await c.get<BenchmarkView>(`/api/v1/benchmarks/${encodeURIComponent(id)}`);
    const r = await c.get<ResultsView>(`/api/v1/benchmarks/${encodeURIComponent(id)}/results`);
    output(o.json, { benchmark: b, results: r }, () => describeRun(b, r));
  };
  // Seed 004's `--id ID`: the same as `bench show ID`.
  bench
    .option('--id <id>', 'show a benchmark (the same as bench show ID; bench show ID --json for JSON)')
    .action(async (o: { id?: string }) => {
      if (!o.id) {
        bench.help();
        return;
      }
      await show(o.id, {});
    });

  bench
    .command('show <id>')
    .description('Show a benchmark: state, per-stage results, errors, ASR scores; services and clients on Slurm with their jobs')
    .option('--json', 'print JSON')
    .action(show);

  bench
    .command('ls')
    .description('List benchmarks, newest first')
    .option('--state <state>', 'only this state')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (o: { state?: string; limit: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: o.limit, ...(o.state ? { state: o.state } : {}) });
      const { items } = await client().get<{ items: BenchmarkView[] }>(`/api/v1/benchmarks?${q.toString()}`);
      output(o.json, items, () =>
        table(
          ['ID', 'NAME', 'STATE', 'TARGET', 'REQUESTS', 'REQ/S', 'TTFT p50', 'E2E p99', 'WER', 'CREATED'],
          items.map((b) => [b.id, b.name, b.state, `${b.target.kind}:${b.target.ref}`, b.summary?.requests, rate(b.summary?.requestsPerS), ms(b.summary?.ttftP50Ms), ms(b.summary?.e2eP99Ms), b.wer === null ? '-' : pct(b.wer), ago(b.createdAt)]),
        ),
      );
    });

  bench
    .command('compare <ids...>')
    .description('Two or more runs side by side (their last stages, or every stage with --stages)')
    .option('--stages', 'one row per stage of each run')
    .option('--json', 'print JSON')
    .action(async (ids: string[], o: { stages?: boolean; json?: boolean }) => {
      const { items } = await client().get<{ items: { benchmark: BenchmarkView; results: ResultsView }[] }>(`/api/v1/benchmarks/compare?ids=${ids.map(encodeURIComponent).join(',')}`);
      output(o.json, items, () => {
        const rows = items.flatMap(({ benchmark, results }) => (o.stages ? results.stages : results.stages.slice(-1)).map((s) => ({ ...s, label: `${benchmark.name} ${benchmark.id.slice(-6)} · ${s.label}` })));
        const base = rows[0];
        const lines = [stagesTable(rows, items.every((i) => i.benchmark.api.startsWith('openai')))];
        if (base && rows.length > 1) {
          lines.push('', 'relative to the first row:');
          const rel = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '-' : `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`);
          lines.push(
            table(
              ['RUN', 'REQ/S', 'TOK/S', 'TTFT p50', 'TTFT p99', 'ITL p50', 'E2E p99'],
              rows.slice(1).map((s) => [s.label, rel(s.throughput.requestsPerS, base.throughput.requestsPerS), rel(s.throughput.outputTokensPerS, base.throughput.outputTokensPerS), rel(s.latency.ttft.p50, base.latency.ttft.p50), rel(s.latency.ttft.p99, base.latency.ttft.p99), rel(s.latency.itl.p50, base.latency.itl.p50), rel(s.latency.e2e.p99, base.latency.e2e.p99)]),
            ),
          );
        }
        return lines.join('\n');
      });
    });

  bench
    .command('cancel <id>')
    .description('Cancel a benchmark; a running one keeps the results of what it sent')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const b = await client().post<BenchmarkView>(`/api/v1/benchmarks/${encodeURIComponent(id)}/cancel`, {});
      output(o.json, b, () => `Cancelling ${b.name} (${b.id}); it is ${b.state}.`);
    });

  bench
    .command('rm <id>')
    .description('Delete an ended benchmark and its raw records')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const b = await client().delete<BenchmarkView>(`/api/v1/benchmarks/${encodeURIComponent(id)}`);
      output(o.json, b, () => `Deleted ${b.name} (${b.id}).`);
    });

  bench
    .command('export <id>')
    .description('Write a benchmark with its results as JSON, its stages as CSV, or its raw records as JSONL or CSV')
    .option('--format <f>', 'json | csv | records-jsonl | records-csv', 'json')
    .option('-o, --output <file>', 'write here instead of stdout')
    .action(async (id: string, o: { format: string; output?: string }) => {
      const c = client();
      const path =
        o.format === 'json' || o.format === 'csv'
          ? `/api/v1/benchmarks/${encodeURIComponent(id)}/export?format=${o.format}`
          : o.format === 'records-jsonl' || o.format === 'records-csv'
            ? `/api/v1/benchmarks/${encodeURIComponent(id)}/records?format=${o.format.slice('records-'.length)}`
            : undefined;
      if (!path) throw new Error(`--format: '${o.format}' is not json, csv, records-jsonl or records-csv`);
      const text = await c.text(path);
      if (o.output) writeFileSync(o.output, text);
      else process.stdout.write(text);
    });
}
