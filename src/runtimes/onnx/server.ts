import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { basename, extname } from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../observability/index.js';
import { BodyTooLargeError, baseUrl, listen, readBody, sendJson, sendText } from '../http.js';
import {
  InferError,
  ORT_TO_OIP,
  OIP_TO_ORT,
  type OipDatatype,
  type OrtType,
  decodeTensorData,
  encodeTensorData,
  isOipDatatype,
} from './tensors.js';

export interface OnnxServerOptions {
  /** Path of the `.onnx` file. */
  modelPath: string;
  /** Name the model is served under; defaults to the file name without `.onnx`. */
  modelName?: string;
  modelVersion?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  threads?: number;
  /** `cuda` needs onnxruntime-node's CUDA binaries, which are not installed by default. */
  executionProvider?: 'cpu' | 'cuda';
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Called once with the server's registry; returns what /metrics serves (cluster workers sum theirs, see cluster.ts). */
  metricsSource?: (registry: Registry) => () => Promise<string>;
  /** Whether /v2/health/ready may answer 200 yet; always once the model is loaded, unless given. */
  isReady?: () => boolean;
  log?: Logger;
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface IoSpec {
  name: string;
  datatype: OipDatatype;
  ortType: OrtType;
  /** -1 for a dimension fixed only at run time. */
  shape: number[];
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;

/**
 * Serves one ONNX model on the Open Inference Protocol (KServe v2 REST). Plain node:http with a
 * hand-written router and JSON writer: the request path is a parse, one session.run and a join, so
 * the server adds as little as possible to calling onnxruntime in-process.
 */
export async function startOnnxServer(opts: OnnxServerOptions): Promise<RunningServer & { session: InferenceSession }> {
  // Loaded here, not at module load, so importing the runtimes (e.g. by the CLI) stays cheap.
  const ort = await import('onnxruntime-node');
  const modelName = opts.modelName ?? basename(opts.modelPath, extname(opts.modelPath));
  const modelVersion = opts.modelVersion ?? '1';
  const bytes = await readFile(opts.modelPath);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: opts.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  });

  const inputs = describeValues(session.inputMetadata, 'input');
  const outputs = describeValues(session.outputMetadata, 'output');
  const inputByName = new Map(inputs.map((i) => [i.name, i]));
  const outputByName = new Map(outputs.map((o) => [o.name, o]));
  const metadataJson = JSON.stringify({
    name: modelName,
    versions: [modelVersion],
    platform: 'onnxruntime_onnx',
    inputs: inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    outputs: outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
  });
  const readyJson = JSON.stringify({ name: modelName, ready: true });
  const modelPrefix = `/v2/models/${encodeURIComponent(modelName)}`;
  const versionPrefix = `${modelPrefix}/versions/${encodeURIComponent(modelVersion)}`;
  const nameJson = JSON.stringify(modelName);
  const versionJson = JSON.stringify(modelVersion);

  await warmUp(ort, session, inputs);

  const registry = new Registry();
  const requests = new Counter({
    name: 'catapult_onnx_requests_total',
    help: 'Inference requests by outcome (success, client_error, server_error)',
    labelNames: ['model', 'outcome'],
    registers: [registry],
  });
  const ok = requests.labels(modelName, 'success');
  const clientError = requests.labels(modelName, 'client_error');
  const serverError = requests.labels(modelName, 'server_error');
  const duration = new Histogram({
    name: 'catapult_onnx_request_duration_seconds',
    help: 'Time from request received to response written, for infer requests',
    labelNames: ['model'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }).labels(modelName);

  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const metricsText = opts.metricsSource ? opts.metricsSource(registry) : () => registry.metrics();
  const isReady = opts.isReady ?? (() => true);

  async function infer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      const body = await readBody(req, maxBody);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new InferError('request body is not valid JSON');
      }
      const { feeds, fetches, id } = decodeRequest(ort, parsed, inputs, inputByName, outputByName);
      // Always fetch every output: onnxruntime-node 1.23 files the values of a subset of fetches under the wrong names.
      const results = await session.run(feeds);
      let out = `{"model_name":${nameJson},"model_version":${versionJson},"id":${JSON.stringify(id ?? randomUUID())},"outputs":[`;
      let first = true;
      for (const name of fetches) {
        const t = results[name] as Tensor;
        const spec = outputByName.get(name)!;
        out += `${first ? '' : ','}{"name":${JSON.stringify(name)},"datatype":"${ORT_TO_OIP[t.type as OrtType] ?? spec.datatype}","shape":[${t.dims.join(',')}],"data":[${encodeTensorData(t.type as OrtType, t.data)}]}`;
        first = false;
      }
      out += ']}';
      sendText(res, 200, out, 'application/json');
      ok.inc();
    } catch (err) {
      if (err instanceof InferError || err instanceof BodyTooLargeError) {
        clientError.inc();
        sendJson(res, err.status, { error: err.message });
      } else {
        serverError.inc();
        opts.log?.error({ err }, 'inference failed');
        sendJson(res, 500, { error: `inference failed: ${err instanceof Error ? err.message : String(err)}` });
      }
    } finally {
      duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  function route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (method === 'POST') {
      if (path === `${modelPrefix}/infer` || path === `${versionPrefix}/infer`) {
        void infer(req, res);
        return;
      }
      if (path.startsWith('/v2/models/') && path.endsWith('/infer')) {
        req.resume();
        return sendJson(res, 404, { error: `model '${modelFromPath(path)}' is not served here; this server serves '${modelName}' version ${modelVersion}` });
      }
    } else if (method === 'GET' || method === 'HEAD') {
      switch (path) {
        case '/v2/health/live':
          return sendJson(res, 200, { live: true });
        case '/v2/health/ready':
        case '/health':
        case `${modelPrefix}/ready`:
        case `${versionPrefix}/ready`: {
          const ready = isReady();
          if (path.startsWith('/v2/models/')) return ready ? sendText(res, 200, readyJson, 'application/json') : sendJson(res, 503, { name: modelName, ready });
          return sendJson(res, ready ? 200 : 503, { ready });
        }
        case '/v2':
          return sendJson(res, 200, { name: 'catapult-onnx', version: '1', extensions: [] });
        case modelPrefix:
        case versionPrefix:
          return sendText(res, 200, metadataJson, 'application/json');
        case '/metrics':
          metricsText().then(
            (text) => sendText(res, 200, text, registry.contentType),
            (err: unknown) => sendJson(res, 500, { error: String(err) }),
          );
          return;
        default:
          if (path.startsWith('/v2/models/')) {
            return sendJson(res, 404, { error: `model '${modelFromPath(path)}' is not served here; this server serves '${modelName}' version ${modelVersion}` });
          }
      }
    }
    req.resume();
    sendJson(res, 404, { error: `no route for ${method} ${path}` });
  }

  const server: Server = createServer({ keepAliveTimeout: 65_000 }, route);
  const port = await listen(server, opts.port ?? 0, opts.host ?? '127.0.0.1');
  opts.log?.info({ model: modelName, port }, 'onnx runtime ready');
  return {
    url: baseUrl(opts.host ?? '127.0.0.1', port),
    port,
    session,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await session.release();
    },
  };
}

function modelFromPath(path: string): string {
  return decodeURIComponent(path.slice('/v2/models/'.length).split('/')[0] ?? '');
}

function describeValues(meta: readonly InferenceSession.ValueMetadata[], kind: string): IoSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${kind} '${m.name}' is not a tensor; the onnx runtime serves tensor inputs and outputs only`);
    const datatype = ORT_TO_OIP[m.type as OrtType];
    if (!datatype) throw new Error(`${kind} '${m.name}' has type ${m.type}, which the Open Inference Protocol cannot carry`);
    return {
      name: m.name,
      datatype,
      ortType: m.type as OrtType,
      shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)),
    };
  });
}

function decodeRequest(
  ort: typeof OrtModule,
  body: unknown,
  inputs: IoSpec[],
  inputByName: Map<string, IoSpec>,
  outputByName: Map<string, IoSpec>,
): { feeds: Record<string, Tensor>; fetches: string[]; id: string | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InferError('request body must be a JSON object with "inputs"');
  }
  const b = body as { inputs?: unknown; outputs?: unknown; id?: unknown };
  if (!Array.isArray(b.inputs)) throw new InferError('"inputs" must be an array of tensors');
  const feeds: Record<string, Tensor> = {};
  for (const raw of b.inputs as unknown[]) {
    if (typeof raw !== 'object' || raw === null) throw new InferError('each input must be an object with name, shape, datatype and data');
    const t = raw as { name?: unknown; shape?: unknown; datatype?: unknown; data?: unknown };
    if (typeof t.name !== 'string') throw new InferError('each input needs a "name"');
    const spec = inputByName.get(t.name);
    if (!spec) {
      throw new InferError(`unknown input '${t.name}'; the model's inputs are ${inputs.map((i) => `'${i.name}'`).join(', ')}`);
    }
    if (feeds[t.name]) throw new InferError(`input '${t.name}' is given more than once`);
    if (!isOipDatatype(t.datatype)) throw new InferError(`input '${t.name}': datatype must be one of the OIP datatypes, got ${JSON.stringify(t.datatype)}`);
    if (t.datatype !== spec.datatype) {
      throw new InferError(`input '${t.name}': expected datatype ${spec.datatype}, got ${t.datatype}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
      throw new InferError(`input '${t.name}': shape must be an array of non-negative integers`);
    }
    const shape = t.shape as number[];
    if (shape.length !== spec.shape.length || shape.some((d, i) => spec.shape[i] !== -1 && spec.shape[i] !== d)) {
      throw new InferError(`input '${t.name}': expected shape [${spec.shape.join(',')}], got [${shape.join(',')}]`);
    }
    const data = decodeTensorData(t.name, spec.datatype, shape, t.data);
    feeds[t.name] = new ort.Tensor(OIP_TO_ORT[spec.datatype], data, shape);
  }
  for (const i of inputs) {
    if (!feeds[i.name]) throw new InferError(`missing input '${i.name}' (${i.datatype} [${i.shape.join(',')}])`);
  }

  let fetches: string[];
  if (b.outputs === undefined) {
    fetches = [...outputByName.keys()];
  } else {
    if (!Array.isArray(b.outputs)) throw new InferError('"outputs" must be an array of { name }');
    fetches = (b.outputs as unknown[]).map((o) => {
      const name = typeof o === 'object' && o !== null ? (o as { name?: unknown }).name : undefined;
      if (typeof name !== 'string' || !outputByName.has(name)) {
        throw new InferError(`unknown output ${JSON.stringify(name)}; the model's outputs are ${[...outputByName.keys()].map((n) => `'${n}'`).join(', ')}`);
      }
      return name;
    });
  }
  const id = typeof b.id === 'string' ? b.id : undefined;
  return { feeds, fetches, id };
}

/** One inference at start so the first real request does not pay for lazy allocations. */
async function warmUp(ort: typeof OrtModule, session: InferenceSession, inputs: IoSpec[]): Promise<void> {
  const feeds: Record<string, Tensor> = {};
  for (const i of inputs) {
    const shape = i.shape.map((d) => (d < 0 ? 1 : d));
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > 1_000_000) return;
    const data = i.ortType === 'string' ? new Array<string>(n).fill('') : zeros(i.ortType, n);
    feeds[i.name] = new ort.Tensor(i.ortType, data, shape);
  }
  // A model may reject zeros (e.g. an index input); warming up is an optimisation, never a reason to fail.
  await session.run(feeds).catch(() => undefined);
}

function zeros(type: OrtType, n: number): Exclude<ReturnType<typeof decodeTensorData>, string[]> {
  switch (type) {
    case 'int64':
      return new BigInt64Array(n);
    case 'uint64':
      return new BigUint64Array(n);
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint32':
      return new Uint32Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'uint16':
    case 'float16':
      return new Uint16Array(n);
    case 'int8':
      return new Int8Array(n);
    default:
      return new Uint8Array(n);
  }
}
