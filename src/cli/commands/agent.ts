import { hostname } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { Agent, type FakeGpuSpec, NoopExecutor, ProcessExecutor, type ReplicaExecutor, parseFakeGpus } from '../../agent/index.js';
import { inheritedEnvironment, loadConfigFromProcess } from '../../config/index.js';
import { type Logger, createLogger } from '../../observability/index.js';
import type { ControlPlane } from '../../server/index.js';
import { type Clock, type PortRange, parseBytes, parsePortRange, systemClock } from '../../util/index.js';

interface AgentFlags {
  server?: string;
  token?: string;
  name?: string;
  labels?: string;
  dataDir?: string;
  fakeGpus?: string;
  cpus?: string;
  memory?: string;
  logLevel?: string;
  clockSkewMs?: string;
  replicas?: string;
  advertiseHost?: string;
  portRange?: string;
  /** false with --no-bench. */
  bench?: boolean;
}

/**
 * What runs replicas: real processes (the default), or `noop`, which only reports assignments as
 * running, for control-plane tests and fleet-scale simulations without model servers.
 */
export function replicaExecutor(kind: string | undefined, dataDir: string, advertiseHost: string, opts: { portRange?: PortRange; lifeline?: boolean } = {}): ReplicaExecutor {
  if (kind === 'noop') return new NoopExecutor({ stateFile: join(dataDir, 'noop-replicas.json') });
  if (kind !== undefined && kind !== 'process') throw new Error(`--replicas: '${kind}' is not process or noop`);
  return new ProcessExecutor({
    dir: join(dataDir, 'replicas'),
    bindHost: advertiseHost === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
    advertiseHost,
    baseEnv: inheritedEnvironment(),
    ...(opts.portRange ? { portRange: opts.portRange } : {}),
    lifeline: opts.lifeline ?? false,
  });
}

/** `k=v,k2=v2` into a record; throws on a pair without `=`. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--labels: '${pair}' is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

async function runAgent(flags: AgentFlags): Promise<void> {
  const config = loadConfigFromProcess({ dataDir: flags.dataDir, logLevel: flags.logLevel });
  const log = createLogger(config.logLevel, 'catapult-agent');
  const fakeGpus: FakeGpuSpec[] | undefined = flags.fakeGpus ? parseFakeGpus(flags.fakeGpus) : undefined;
  const cpuCores = flags.cpus === undefined ? undefined : Number(flags.cpus);
  if (cpuCores !== undefined && !(cpuCores > 0)) throw new Error(`--cpus: '${flags.cpus}' is not a positive number`);
  const memoryBytes = flags.memory === undefined ? undefined : parseBytes(flags.memory);
  if (flags.memory !== undefined && memoryBytes === undefined) throw new Error(`--memory: cannot read '${flags.memory}'; use e.g. 64GiB`);
  const portRange = flags.portRange === undefined ? undefined : parsePortRange(flags.portRange);
  const skew = Number(flags.clockSkewMs ?? 0);
  const clock: Clock = { now: () => Date.now() + skew };
  const server = (flags.server ?? config.url).replace(/\/+$/, '');
  const agent = new Agent({
    server,
    ...(flags.token ? { joinToken: flags.token } : {}),
    name: flags.name ?? hostname(),
    labels: parseLabels(flags.labels),
    // A separate folder, so an agent beside `catapult up` in the same directory keeps its own credential.
    dataDir: flags.dataDir ? flags.dataDir : join(config.dataDir, 'agent'),
    ...(fakeGpus ? { fakeGpus } : {}),
    capacity: { ...(cpuCores !== undefined ? { cpuCores } : {}), ...(memoryBytes !== undefined ? { memoryBytes } : {}) },
    executor: replicaExecutor(flags.replicas, flags.dataDir ? flags.dataDir : join(config.dataDir, 'agent'), flags.advertiseHost ?? '127.0.0.1', portRange ? { portRange } : {}),
    bench: flags.bench !== false,
    clock,
    log,
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'agent stopping');
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const { workerId, name, joined } = await agent.start();
  const gpus = fakeGpus ? `${fakeGpus.length} fake GPU${fakeGpus.length === 1 ? '' : 's'}` : 'GPUs from nvidia-smi/rocm-smi';
  process.stdout.write(`Agent ${name} ${joined ? 'joined' : 'reconnected to'} ${server} as worker ${workerId} (${gpus}).\n`);
  await agent.done;
  if (agent.error) {
    process.stderr.write(`error: ${agent.error.message}\n`);
    process.exit(1);
  }
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Run the agent on a machine: join the cluster, report GPUs and heartbeats, run the replicas placed here')
    .option('--server <url>', 'control-plane URL (env CATAPULT_URL)')
    .option('--token <token>', 'join token, needed on first start (`catapult join-token create`)')
    .option('--name <name>', 'worker name (default: the host name)')
    .option('--labels <k=v,...>', 'labels for placement selectors')
    .option('--data-dir <dir>', 'where the agent keeps its credential (default <CATAPULT_DATA_DIR>/agent)')
    .option('--fake-gpus <spec>', 'declare GPUs for tests and demos, e.g. 2xH100:80GiB (shown as fake everywhere)')
    .option('--cpus <n>', 'CPU cores to offer (default: all)')
    .option('--memory <bytes>', 'memory to offer, e.g. 64GiB (default: all)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env CATAPULT_LOG_LEVEL)')
    .option('--replicas <kind>', 'process (run model servers, the default) or noop (report assignments as running; for simulations)')
    .option('--advertise-host <host>', 'address the gateway uses to reach replicas on this machine (default 127.0.0.1)')
    .option('--port-range <from-to>', 'ports replicas may listen on, e.g. 20000-20999, so a firewall can open just those (default: any free port)')
    .option('--no-bench', 'do not run benchmark clients (shards of benchmarks with clients.where: agents) on this machine')
    // Shifts only the agent's reported clock, to show liveness ignores it; for tests.
    .addOption(new Option('--clock-skew-ms <ms>').hideHelp())
    .action((flags: AgentFlags) => runAgent(flags));
}

/**
 * The local agent of `catapult up`: same process, joined over the local API with a single-use token
 * minted for it (and revoked once it has joined). Returns undefined, after saying why, when it cannot
 * start (for example another live worker already uses this host's name).
 */
export async function startEmbeddedAgent(
  cp: Pick<ControlPlane, 'cluster' | 'url'>,
  dataDir: string,
  log: Logger,
): Promise<{ agent: Agent; executor: ProcessExecutor; line: string } | { agent: undefined; executor: undefined; line: string }> {
  const { token, secret } = await cp.cluster.createJoinToken({ name: 'local agent (catapult up)', maxUses: 1, expiresAt: systemClock.now() + 10 * 60_000 }, null);
  const agentDir = join(dataDir, 'agent');
  // `up` is one program: its model servers end with it, even when it is killed with SIGKILL.
  const executor = replicaExecutor('process', agentDir, '127.0.0.1', { lifeline: true }) as ProcessExecutor;
  const agent = new Agent({
    server: cp.url,
    joinToken: secret,
    name: hostname(),
    dataDir: agentDir,
    anyServer: true,
    executor,
    bench: true,
    log: log.child({ component: 'agent' }),
  });
  try {
    const { workerId, name } = await agent.start();
    const gpus = cp.cluster.getWorker(workerId).gpus;
    return { agent, executor, line: `worker ${name} (${workerId}), ${gpus.length ? `${gpus.length} GPU${gpus.length === 1 ? '' : 's'}` : 'no GPUs'}` };
  } catch (err) {
    await agent.stop();
    const reason = err instanceof Error ? err.message : String(err);
    log.warn({ err: reason }, 'local agent not started');
    await executor.close({ stopReplicas: true });
    return { agent: undefined, executor: undefined, line: `not started: ${reason}` };
  } finally {
    await cp.cluster.revokeJoinToken(token.id);
  }
}
