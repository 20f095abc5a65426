import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  BENCHMARK_STATES,
  type BenchmarkService,
  type RequestRecord,
  type ResultsView,
  benchmarkSchema,
  benchmarkResultsSchema as resultsSchema,
  recipeJsonSchema,
  recordsCsv,
  shardProgressReportSchema,
  stagesCsv,
} from '../../bench/index.js';
import { CatapultError } from '../../errors/index.js';
import { actorOf } from '../auth.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams } from '../schemas.js';

const recipeError = z.object({ path: z.string(), line: z.number().nullable(), column: z.number().nullable(), message: z.string() });

const createBody = z
  .strictObject({
    yaml: z.string().min(1).max(1_000_000).optional().describe('The recipe as YAML (or JSON) text; errors then name lines'),
    recipe: z.record(z.string(), z.unknown()).optional().describe('The recipe as an object'),
  })
  .meta({ id: 'BenchmarkCreate' });

const progressReport = shardProgressReportSchema;

/** Benchmarks and evaluations (people and the console), and the shard routes of the agents that run them. */
export function benchmarkRoutes(service: BenchmarkService): RoutePlugin {
  return (app) => {
    // Shard records arrive as NDJSON, streamed to disk without being parsed into memory here.
    app.addContentTypeParser('application/x-ndjson', (_req, payload, done) => done(null, payload));

    app.post(
      '/api/v1/benchmarks',
      {
        config: { scope: 'bench' },
        schema: {
          tags: ['benchmarks'],
          summary: 'Run a benchmark from a recipe (YAML text or an object); it is queued and runs in the background',
          body: createBody,
          response: { 201: benchmarkSchema, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await service.create(req.body, actorOf(req).id)),
    );

    app.post(
      '/api/v1/benchmarks/validate',
      {
        config: { scope: 'bench', audit: false },
        schema: {
          tags: ['benchmarks'],
          summary: 'Check a recipe without running it: every problem with its path and line',
          body: createBody,
          response: { 200: z.object({ valid: z.boolean(), errors: z.array(recipeError) }), ...errorResponses },
        },
      },
      (req) => service.validate(req.body),
    );

    app.get(
      '/api/v1/benchmarks/recipe-schema',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['benchmarks'],
          summary: 'The recipe format as JSON Schema, for editors (YAML language servers) and forms',
          response: { 200: z.record(z.string(), z.unknown()), ...errorResponses },
        },
      },
      () => recipeJsonSchema(),
    );

    app.post(
      '/api/v1/benchmarks/async',
      {
        config: { scope: 'bench' },
        schema: {
          tags: ['benchmarks'],
          summary: 'Evaluate an ASR endpoint on a dataset (seed 000): every utterance is transcribed once; the benchmark ends completed with wer and cer',
          body: z.strictObject({
            name: z.string().min(1).max(200).optional(),
            endpoint_url: z.url().optional().describe('The server to evaluate, e.g. http://gpu-node-1:26007'),
            production_endpoint_id: z
              .union([z.string().min(1).max(200), z.number().int()])
              .optional()
              .describe('A registered endpoint (id like "ep_…", or name); its auth header is used. A number is refused with a hint'),
            deployment: z.string().min(1).max(200).optional().describe('Or a deployment, through the gateway'),
            asr_eval_dataset: z.string().min(1).max(4096).describe('An ASR manifest (.jsonl of {audio, text}) or a Hugging Face datasets .arrow file'),
            evaluation_only: z.boolean().optional().describe('true (default): every utterance once. false: also a load stage (load_epochs passes at concurrency) with latency and RTFx'),
            load_epochs: z.number().int().min(1).max(1000).optional().describe('Passes over the dataset when evaluation_only is false; default 3'),
            audio_encoding: z.enum(['multipart', 'json-base64']).optional().describe('multipart (default) or a JSON body { audio: base64, model }'),
            model: z.string().min(1).max(200).optional(),
            concurrency: z.number().int().min(1).max(1024).optional().describe('Requests in flight at once; default 4'),
            audio_column: z.string().min(1).max(200).optional(),
            text_column: z.string().min(1).max(200).optional(),
          }),
          response: { 202: benchmarkSchema, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(202).send(await service.createAsync(req.body, actorOf(req).id)),
    );

    app.get(
      '/api/v1/benchmarks',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['benchmarks'],
          summary: 'List benchmarks, newest first',
          querystring: z.strictObject({
            state: z.enum(BENCHMARK_STATES).optional(),
            limit: z.coerce.number().int().min(1).max(500).default(50),
            cursor: z.string().max(200).optional().describe('`nextCursor` of the previous page'),
          }),
          response: { 200: z.object({ items: z.array(benchmarkSchema), nextCursor: z.string().nullable() }), ...errorResponses },
        },
      },
      async (req) => service.list(req.query),
    );

    app.get(
      '/api/v1/benchmarks/compare',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['benchmarks'],
          summary: 'Two or more runs side by side, with their results',
          querystring: z.strictObject({ ids: z.string().min(1).max(4000).describe('Comma-separated benchmark ids') }),
          response: { 200: z.object({ items: z.array(z.object({ benchmark: benchmarkSchema, results: resultsSchema })) }), ...errorResponses },
        },
      },
      async (req) => {
        const ids = [...new Set(req.query.ids.split(',').map((s) => s.trim()).filter(Boolean))];
        if (ids.length < 2) {
          throw new CatapultError('CATAPULT_VALIDATION_FAILED', 'Compare needs at least two benchmark ids.', { errors: [{ path: 'query/ids', message: 'give two or more comma-separated ids' }] });
        }
        return { items: await service.compare(ids) };
      },
    );

    app.get(
      '/api/v1/benchmarks/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['benchmarks'], summary: 'A benchmark: its state (status), live progress, headline results, wer/cer', params: idParams, response: { 200: benchmarkSchema, ...errorResponses } },
      },
      async (req) => service.get(req.params.id),
    );

    app.get(
      '/api/v1/benchmarks/:id/results',
      {
        config: { scope: 'read' },
        schema: { tags: ['benchmarks'], summary: 'Full results per stage: latency percentiles and distributions, throughput over time, goodput, errors by kind, ASR evaluation', params: idParams, response: { 200: resultsSchema, ...errorResponses } },
      },
      async (req) => service.results(req.params.id),
    );

    app.get(
      '/api/v1/benchmarks/:id/records',
      {
        config: { scope: 'read', stream: true },
        schema: {
          tags: ['benchmarks'],
          summary: 'Raw per-request records: a JSON page, or everything as JSONL or CSV',
          params: idParams,
          querystring: z.strictObject({
            format: z.enum(['json', 'jsonl', 'csv']).default('json'),
            offset: z.coerce.number().int().min(0).default(0),
            limit: z.coerce.number().int().min(1).max(10_000).default(1000),
          }),
          response: { 200: z.object({ items: z.array(z.record(z.string(), z.unknown())), next: z.number().nullable() }).describe('format=json; jsonl and csv stream text'), ...errorResponses },
        },
      },
      async (req, reply) => {
        const { format, offset, limit } = req.query;
        const records = service.records(req.params.id);
        if (format === 'json') {
          const items: RequestRecord[] = [];
          let n = 0;
          let more = false;
          for await (const r of records) {
            if (n++ < offset) continue;
            if (items.length >= limit) {
              more = true;
              break;
            }
            items.push(r);
          }
          return { items: items as unknown as Record<string, unknown>[], next: more ? offset + limit : null };
        }
        // Streamed: a run can have millions of records.
        const first = await records.next();
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
          'content-disposition': `attachment; filename="${req.params.id}-records.${format}"`,
        });
        const rows = (async function* () {
          if (!first.done) yield first.value;
          yield* records;
        })();
        for await (const line of format === 'csv' ? recordsCsv(rows) : jsonl(rows)) {
          if (!res.write(line)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
      },
    );

    app.get(
      '/api/v1/benchmarks/:id/export',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['benchmarks'],
          summary: 'Download a benchmark with its results: JSON, or CSV with one row per stage',
          params: idParams,
          querystring: z.strictObject({ format: z.enum(['json', 'csv']).default('json') }),
          response: { 200: z.string().describe('application/json or text/csv'), ...errorResponses },
        },
      },
      async (req, reply) => {
        const benchmark = await service.get(req.params.id);
        const results: ResultsView = await service.results(req.params.id);
        const csv = req.query.format === 'csv';
        reply
          .header('content-type', csv ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
          .header('content-disposition', `attachment; filename="${req.params.id}.${req.query.format}"`);
        // Sent as text so the serializer does not reshape it.
        return reply.send(csv ? stagesCsv(benchmark, results) : JSON.stringify({ benchmark, results }, null, 2));
      },
    );

    app.post(
      '/api/v1/benchmarks/:id/cancel',
      {
        config: { scope: 'bench' },
        schema: { tags: ['benchmarks'], summary: 'Cancel a benchmark; a running one stops and keeps the results of what it sent', params: idParams, response: { 200: benchmarkSchema, ...errorResponses } },
      },
      async (req) => service.cancel(req.params.id),
    );

    app.delete(
      '/api/v1/benchmarks/:id',
      {
        config: { scope: 'bench' },
        schema: { tags: ['benchmarks'], summary: 'Delete an ended benchmark and its raw records', params: idParams, response: { 200: benchmarkSchema, ...errorResponses } },
      },
      async (req) => service.delete(req.params.id),
    );

    // ---- Agents running shards --------------------------------------------------------------

    const agentOf = (req: FastifyRequest): string => {
      const p = req.principal!;
      return p.kind === 'agent' ? p.agentId : `key:${p.key.id}`;
    };

    app.get(
      '/api/v1/agents/benchmarks/shards/:id',
      {
        config: { agent: true, audit: false },
        schema: {
          tags: ['agents'],
          summary: 'What a claimed benchmark shard task runs: start time, stages, target (with credentials) and the prepared requests',
          params: idParams,
          response: { 200: z.record(z.string(), z.unknown()), ...errorResponses },
        },
      },
      async (req) => (await service.shardSpec(req.params.id, agentOf(req))) as unknown as Record<string, unknown>,
    );

    app.post(
      '/api/v1/agents/benchmarks/shards/:id/progress',
      {
        config: { agent: true, audit: false },
        schema: { tags: ['agents'], summary: "A shard's progress: counters and its stage's histograms so far", params: idParams, body: progressReport, response: { 200: z.object({ ok: z.boolean() }), ...errorResponses } },
      },
      async (req) => {
        await service.shardProgress(req.params.id, agentOf(req), req.body);
        return { ok: true };
      },
    );

    app.put(
      '/api/v1/agents/benchmarks/shards/:id/records',
      {
        config: { agent: true, audit: false },
        bodyLimit: 8 * 1024 ** 3,
        schema: {
          tags: ['agents'],
          summary: "A shard's raw records as NDJSON (Content-Type: application/x-ndjson); the server summarises them",
          params: idParams,
          response: { 200: z.object({ records: z.number() }), ...errorResponses },
        },
      },
      async (req) => {
        if (!req.headers['content-type']?.startsWith('application/x-ndjson')) {
          throw new CatapultError('CATAPULT_UNSUPPORTED_MEDIA_TYPE', 'Send the records as application/x-ndjson.');
        }
        return service.shardRecords(req.params.id, agentOf(req), req.body as Readable);
      },
    );
  };
}

async function* jsonl(rows: AsyncIterable<RequestRecord>): AsyncGenerator<string> {
  for await (const r of rows) yield `${JSON.stringify(r)}\n`;
}
