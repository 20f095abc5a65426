import type { Command } from 'commander';
import { type Config, loadConfigFromProcess } from '../../config/index.js';
import { createLogger } from '../../observability/index.js';
import { demoDeployments } from '../../runtimes/index.js';
import { type ControlPlane, startControlPlane } from '../../server/index.js';
import { ensureAdminKey } from '../bootstrap.js';
import { startEmbeddedAgent } from './agent.js';
import { startEmbeddedGateway } from './gateway.js';

interface ServeFlags {
  dataDir?: string;
  apiHost?: string;
  apiPort?: string;
  gatewayPort?: string;
  databaseUrl?: string;
  logLevel?: string;
  config?: string;
  /** false with --no-demo. */
  demo?: boolean;
}

/**
 * Registers and deploys the demo models on first start (an ONNX classifier and a simulated LLM),
 * then waits for them to be active so the banner's examples work when it is printed.
 */
async function deployDemos(cp: ControlPlane, log: ReturnType<typeof createLogger>): Promise<string[]> {
  const lines: string[] = [];
  const names: string[] = [];
  for (const demo of demoDeployments()) {
    try {
      const exists = await cp.deployments.get(demo.name).catch(() => undefined);
      if (!exists) {
        let modelRef: string | undefined;
        if (demo.modelPath) {
          const model = (await cp.models.find(demo.modelName)) ?? (await cp.models.register({ name: demo.modelName, source: demo.modelPath, description: demo.description }));
          modelRef = model.id;
        }
        await cp.deployments.create({ name: demo.name, runtime: demo.runtime, ...(modelRef ? { model: modelRef } : {}), options: demo.options, replicas: 1 });
      }
      names.push(demo.name);
    } catch (err) {
      log.warn({ err: (err as Error).message, demo: demo.name }, 'demo deployment not created');
      lines.push(`${demo.name}: not deployed (${(err as Error).message})`);
    }
  }
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    let d = await cp.deployments.get(name);
    while (d.state !== 'active' && d.state !== 'failed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      d = await cp.deployments.get(name);
    }
    const url = d.protocol === 'openai' ? `${d.urls.openai} (model "${d.name}")` : (d.urls['kserve-v2'] ?? Object.values(d.urls)[0] ?? '');
    lines.push(`${d.name.padEnd(9)} ${d.state.padEnd(8)} ${d.runtime.padEnd(9)} ${url}${d.state === 'active' ? '' : ` — ${d.reason ?? ''}`}`);
  }
  return lines;
}

function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (env CATAPULT_DATA_DIR, default ./.catapult)')
    .option('--api-host <host>', 'API listen address (env CATAPULT_API_HOST, default 127.0.0.1)')
    .option('--api-port <port>', 'API port (env CATAPULT_API_PORT, default 8080)')
    .option('--database-url <url>', 'postgres:// URL; default SQLite in the data dir (env CATAPULT_DATABASE_URL)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env CATAPULT_LOG_LEVEL)')
    .option('--config <file>', 'catapult.yaml to read (env CATAPULT_CONFIG)');
}

function configFrom(flags: ServeFlags): Config {
  return loadConfigFromProcess(
    {
      dataDir: flags.dataDir,
      apiHost: flags.apiHost,
      apiPort: flags.apiPort,
      gatewayPort: flags.gatewayPort,
      databaseUrl: flags.databaseUrl,
      logLevel: flags.logLevel,
    },
    flags.config,
  );
}

/** Keeps the process alive until SIGINT/SIGTERM, then shuts down within a deadline. */
function runUntilSignal(cp: ControlPlane, log: ReturnType<typeof createLogger>, before?: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    // The local agent stops first, so it does not report to a closing API.
    (before ?? (() => Promise.resolve()))()
      .catch(() => undefined)
      .then(() => cp.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function serve(flags: ServeFlags, mode: 'up' | 'server'): Promise<void> {
  const config = configFrom(flags);
  const log = createLogger(config.logLevel);
  const cp = await startControlPlane({ config, log });
  const admin = await ensureAdminKey(cp.keys, config.dataDir);
  const gateway = mode === 'up' ? await startEmbeddedGateway(cp, config, log) : undefined;
  if (gateway) cp.deployments.setGatewayUrl(gateway.url);
  const local = mode === 'up' ? await startEmbeddedAgent(cp, config.dataDir, log) : undefined;
  const localAgent = local?.agent;
  runUntilSignal(cp, log, async () => {
    await localAgent?.stop();
    // `up` is one program: stopping it stops the model servers it started.
    await local?.executor?.close({ stopReplicas: true });
    await gateway?.close();
  });
  const demos = mode === 'up' && localAgent && flags.demo !== false ? await deployDemos(cp, log) : [];

  const lines = [
    mode === 'up' ? 'Catapult is up.' : 'Catapult server is up.',
    `  API        ${cp.url}/api/v1`,
    `  Console    ${cp.url}/  (sign in with the admin key)`,
    `  API docs   ${cp.url}/api/docs`,
    `  Health     ${cp.url}/health`,
    `  Store      ${cp.store.description}`,
    ...(gateway ? [`  Gateway    ${gateway.url}  (OpenAI /v1, KServe v2 /v2)`] : []),
    ...(local ? [`  Agent      ${local.line}`] : []),
    ...demos.map((d) => `  Demo       ${d}`),
  ];
  if (admin.created) {
    lines.push(`  Admin key  ${admin.created}`, `             (shown once; saved to ${admin.file}, mode 0600)`);
  } else {
    lines.push(`  Admin key  in ${admin.file}`);
  }
  const auth = `-H "Authorization: Bearer $(cat ${admin.file})"`;
  lines.push('', 'Try:', `  curl ${auth} ${cp.url}/api/v1/cluster/status`);
  if (gateway && demos.length > 0) {
    lines.push(
      `  curl ${auth} ${gateway.url}/v2/models/iris/infer -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'`,
      `  curl ${auth} -H 'content-type: application/json' ${gateway.url}/v1/chat/completions -d '{"model":"demo-llm","messages":[{"role":"user","content":"Hello"}]}'`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerUp(program: Command): void {
  addServeOptions(
    program
      .command('up')
      .description('Start everything in one process: API, store (SQLite by default), and, as they exist, the local agent, gateway and demo models')
      .option('--gateway-port <port>', 'data-plane gateway port (env CATAPULT_GATEWAY_PORT, default 8000)')
      .option('--no-demo', 'do not deploy the demo models (an ONNX classifier and a simulated LLM)'),
  ).action((flags: ServeFlags) => serve(flags, 'up'));

  addServeOptions(
    program.command('server').description('Start the control-plane server only (for split deployments; several may share one Postgres)'),
  ).action((flags: ServeFlags) => serve(flags, 'server'));
}
