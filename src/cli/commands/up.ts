import type { Command } from 'commander';
import { type Config, loadConfigFromProcess } from '../../config/index.js';
import { createLogger } from '../../observability/index.js';
import { type ControlPlane, startControlPlane } from '../../server/index.js';
import { ensureAdminKey } from '../bootstrap.js';

interface ServeFlags {
  dataDir?: string;
  apiHost?: string;
  apiPort?: string;
  gatewayPort?: string;
  databaseUrl?: string;
  logLevel?: string;
  config?: string;
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
function runUntilSignal(cp: ControlPlane, log: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    cp.close().then(
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
  runUntilSignal(cp, log);

  const lines = [
    mode === 'up' ? 'Catapult is up.' : 'Catapult server is up.',
    `  API        ${cp.url}/api/v1`,
    `  API docs   ${cp.url}/api/docs`,
    `  Health     ${cp.url}/health`,
    `  Store      ${cp.store.description}`,
  ];
  if (admin.created) {
    lines.push(`  Admin key  ${admin.created}`, `             (shown once; saved to ${admin.file}, mode 0600)`);
  } else {
    lines.push(`  Admin key  in ${admin.file}`);
  }
  lines.push('', `Try: curl -H "Authorization: Bearer $(cat ${admin.file})" ${cp.url}/api/v1/cluster/status`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerUp(program: Command): void {
  addServeOptions(
    program
      .command('up')
      .description('Start everything in one process: API, store (SQLite by default), and, as they exist, the local agent, gateway and demo models')
      .option('--gateway-port <port>', 'data-plane gateway port (env CATAPULT_GATEWAY_PORT, default 8000)'),
  ).action((flags: ServeFlags) => serve(flags, 'up'));

  addServeOptions(
    program.command('server').description('Start the control-plane server only (for split deployments; several may share one Postgres)'),
  ).action((flags: ServeFlags) => serve(flags, 'server'));
}
