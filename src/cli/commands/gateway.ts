import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type Config, loadConfigFromProcess } from '../../config/index.js';
import { type Gateway, gatewayOptionsFromConfig, inProcessSource, remoteSource, startGateway } from '../../gateway/index.js';
import { type Logger, createLogger } from '../../observability/index.js';
import type { ControlPlane } from '../../server/index.js';
import { explainListenError } from '../../util/index.js';

interface GatewayFlags {
  server?: string;
  key?: string;
  host?: string;
  port?: string;
  logLevel?: string;
  config?: string;
}

/** The gateway inside `catapult up`: same process as the control plane, on its own port. */
export async function startEmbeddedGateway(cp: ControlPlane, config: Config, log: Logger): Promise<Gateway> {
  const gateway = await startGateway({
    ...gatewayOptionsFromConfig(config),
    source: inProcessSource({ events: cp.events, registry: cp.routeRegistry, keys: cp.keys }),
    log,
  }).catch(async (err: unknown) => {
    throw await explainListenError(err, { what: 'The data-plane gateway', host: config.gatewayHost, port: config.gatewayPort, choose: '--gateway-port P (CATAPULT_GATEWAY_PORT)' });
  });
  await gateway.ready(10_000);
  return gateway;
}

function keyFrom(config: Config): string {
  if (config.apiKey) return config.apiKey;
  const file = join(config.dataDir, 'admin.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error(
    'No key for the control plane: pass --key with a key that has the gateway scope (`catapult keys create --name gw --scopes gateway`), or set CATAPULT_API_KEY.',
  );
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('Run a standalone data-plane gateway that follows a control plane (run several behind a load balancer)')
    .option('--server <url>', 'control-plane URL (env CATAPULT_URL, default http://127.0.0.1:8080)')
    .option('--key <key>', 'API key with the gateway scope (env CATAPULT_API_KEY)')
    .option('--host <host>', 'listen address (env CATAPULT_GATEWAY_HOST, default 127.0.0.1)')
    .option('--port <port>', 'listen port (env CATAPULT_GATEWAY_PORT, default 8000)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env CATAPULT_LOG_LEVEL)')
    .option('--config <file>', 'catapult.yaml to read (env CATAPULT_CONFIG)')
    .action(async (flags: GatewayFlags) => {
      const config = loadConfigFromProcess(
        { url: flags.server, apiKey: flags.key, gatewayHost: flags.host, gatewayPort: flags.port, logLevel: flags.logLevel },
        flags.config,
      );
      const log = createLogger(config.logLevel, 'catapult-gateway');
      const source = remoteSource({ url: config.url, key: keyFrom(config) });
      const gateway = await startGateway({ ...gatewayOptionsFromConfig(config), source, log }).catch(async (err: unknown) => {
        throw await explainListenError(err, { what: 'The gateway', host: config.gatewayHost, port: config.gatewayPort, choose: '--port P (CATAPULT_GATEWAY_PORT)' });
      });

      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) process.exit(1);
        stopping = true;
        log.info({ signal }, 'gateway stopping');
        const deadline = setTimeout(() => process.exit(1), 10_000);
        deadline.unref();
        gateway.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));

      let state = 'routing table loaded';
      try {
        await gateway.ready(5000);
      } catch {
        state = `waiting for the control plane (${gateway.status().lastError ?? 'no answer yet'}); requests get 503 until it answers`;
      }
      process.stdout.write(
        [
          'Catapult gateway is up.',
          `  Gateway        ${gateway.url}  (OpenAI /v1, KServe v2 /v2, metrics /metrics)`,
          `  Control plane  ${config.url}  (${state})`,
          '',
        ].join('\n'),
      );
    });
}
