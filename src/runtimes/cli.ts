import type { Command } from 'commander';
import { createLogger } from '../observability/index.js';
import { onnxOptionsSchema } from './builtin.js';
import { detectModelFormat } from './formats.js';
import { baseUrl } from './http.js';
import { isClusterWorker, runClusterPrimary, workerMetrics, workerReadiness } from './onnx/cluster.js';
import { type RunningServer, startOnnxServer } from './onnx/server.js';
import { getRuntime, listRuntimes, runtimesForFormat } from './registry.js';
import { SIMULATOR_OPTION_KEYS, optionFlag, simulatorOptionsSchema } from './simulator/options.js';
import { startSimulator } from './simulator/server.js';

interface ListenFlags {
  host: string;
  port: string;
  modelName?: string;
  logLevel: string;
}

function issuesAsFlags(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${optionFlag(String(i.path[0] ?? ''))}: ${i.message}`).join('\n  ');
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be a port number (0 picks a free one), got "${text}"`);
  return n;
}

/** Serves until SIGTERM or SIGINT, then closes connections and exits; a second signal exits at once. */
function serveUntilSignal(server: Pick<RunningServer, 'close'>, log: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function addListenOptions(cmd: Command, defaultName?: string): Command {
  return cmd
    .option('--model-name <name>', 'name clients use for the model', defaultName)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8000')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info');
}

/**
 * The `runtime` command group: `runtime onnx|simulator` serve a model (what a replica of a built-in
 * runtime executes), `runtime list|command|detect` inspect runtimes. Shared by the `catapult` CLI and
 * the lighter entry point in main.ts.
 */
export function registerRuntimeCommands(program: Command): Command {
  const runtime = program
    .command('runtime')
    .description('Run a built-in model server (what a replica of the onnx or simulator runtime executes), or inspect runtimes');

  addListenOptions(
    runtime
      .command('onnx')
      .description('Serve an ONNX model on the KServe v2 / Open Inference Protocol with onnxruntime-node')
      .requiredOption('--model <path>', 'the .onnx file')
      .option('--threads <n>', 'onnxruntime intra-op threads (0: one per core)')
      .option('--workers <n>', 'server processes sharing the port, each with the model loaded (default 1)')
      .option('--execution-provider <ep>', 'cpu or cuda')
      .option('--max-body-bytes <n>', 'largest request body in bytes'),
  ).action(async (flags: ListenFlags & { model: string; threads?: string; workers?: string; executionProvider?: string; maxBodyBytes?: string }) => {
    const parsed = onnxOptionsSchema.safeParse({
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
      ...(flags.executionProvider !== undefined ? { executionProvider: flags.executionProvider } : {}),
      ...(flags.maxBodyBytes !== undefined ? { maxBodyBytes: flags.maxBodyBytes } : {}),
    });
    if (!parsed.success) throw new Error(`invalid onnx options:\n  ${issuesAsFlags(parsed.error.issues)}`);
    const options = parsed.data;
    const log = createLogger(flags.logLevel, 'catapult-runtime-onnx');
    const listenPort = port(flags.port);
    if (options.workers > 1 && !isClusterWorker()) {
      const primary = await runClusterPrimary(options.workers, log);
      serveUntilSignal(primary, log);
      process.stdout.write(`onnx runtime serving ${flags.model} at ${baseUrl(flags.host, primary.port)}/v2 (KServe v2, ${options.workers} workers)\n`);
      return;
    }
    const server = await startOnnxServer({
      modelPath: flags.model,
      ...(flags.modelName ? { modelName: flags.modelName } : {}),
      host: flags.host,
      port: listenPort,
      threads: options.threads,
      executionProvider: options.executionProvider,
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      ...(isClusterWorker() ? { metricsSource: workerMetrics, isReady: workerReadiness() } : {}),
      log,
    });
    serveUntilSignal(server, log);
    if (!isClusterWorker()) process.stdout.write(`onnx runtime serving ${flags.model} at ${server.url}/v2 (KServe v2)\n`);
  });

  const simulator = addListenOptions(
    runtime.command('simulator').description('Serve a simulated OpenAI-compatible LLM with configured timing and vLLM metrics'),
    'simulator',
  );
  for (const key of SIMULATOR_OPTION_KEYS) {
    simulator.option(`${optionFlag(key)} <value>`, simulatorOptionsSchema.shape[key].description ?? key);
  }
  simulator.action(async (flags: ListenFlags & Record<string, string | undefined>) => {
    const given = Object.fromEntries(SIMULATOR_OPTION_KEYS.filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]));
    const parsed = simulatorOptionsSchema.safeParse(given);
    if (!parsed.success) throw new Error(`invalid simulator options:\n  ${issuesAsFlags(parsed.error.issues)}`);
    const log = createLogger(flags.logLevel, 'catapult-runtime-simulator');
    const server = await startSimulator({ ...parsed.data, modelName: flags.modelName ?? 'simulator', host: flags.host, port: port(flags.port), log });
    serveUntilSignal(server, log);
    process.stdout.write(`simulator serving model '${server.options.modelName}' at ${server.url}/v1 (OpenAI-compatible)\n`);
  });

  runtime
    .command('list')
    .description('List the runtimes Catapult knows')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const rows = listRuntimes().map((r) => ({
        name: r.name,
        kind: r.kind,
        protocol: r.protocol,
        healthPath: r.healthPath,
        formats: r.formats === 'any' ? 'any' : r.formats.join(','),
        description: r.description,
      }));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${r.kind.padEnd(8)}  ${r.protocol.padEnd(9)}  ${r.description}\n`);
    });

  runtime
    .command('command <name>')
    .description('Print the exact command and environment a runtime would run for one replica')
    .requiredOption('--port <port>', 'port of the replica')
    .option('--model <path>', 'model path as the replica sees it', '')
    .option('--model-name <name>', 'name clients use', 'model')
    .option('--host <host>', 'address the replica binds', '127.0.0.1')
    .option('--gpus <list>', 'comma-separated GPU indices', '')
    .option('--gpu-vendor <vendor>', 'nvidia or amd', 'nvidia')
    .option('--options <json>', 'runtime options as a JSON object', '{}')
    .action((name: string, o: { port: string; model: string; modelName: string; host: string; gpus: string; gpuVendor: string; options: string }) => {
      let options: unknown;
      try {
        options = JSON.parse(o.options);
      } catch {
        throw new Error('--options must be a JSON object');
      }
      const launch = getRuntime(name).buildCommand({
        modelPath: o.model,
        modelName: o.modelName,
        port: port(o.port),
        host: o.host,
        gpus: o.gpus === '' ? [] : o.gpus.split(',').map(Number),
        gpuVendor: o.gpuVendor === 'amd' ? 'amd' : 'nvidia',
        options: options as Record<string, unknown>,
      });
      process.stdout.write(`${JSON.stringify(launch, null, 2)}\n`);
    });

  runtime
    .command('detect <path>')
    .description('Say which model format a file or directory holds, and which runtimes serve it')
    .action(async (path: string) => {
      const found = await detectModelFormat(path);
      const runtimes = runtimesForFormat(found.format).map((r) => r.name);
      process.stdout.write(`${found.format}${found.weights ? ` (${found.weights} weights)` : ''}: ${found.evidence}\n`);
      process.stdout.write(`runtimes: ${runtimes.length > 0 ? runtimes.join(', ') : 'custom only'}\n`);
    });
  return runtime;
}
