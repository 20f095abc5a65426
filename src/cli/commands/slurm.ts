import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFromProcess } from '../../config/index.js';
import type { ClusterReport, SlurmCluster } from '../../slurm/index.js';
import { ApiClient } from '../client.js';
import { output, table } from '../format.js';

function client(): ApiClient {
  return ApiClient.fromConfig(loadConfigFromProcess());
}

const path = (id: string) => `/api/v1/slurm-clusters/${encodeURIComponent(id)}`;

interface AddOptions {
  host: string;
  port: string;
  user: string;
  key: string;
  hostKey: string;
  workDir: string;
  partition?: string;
  account?: string;
  qos?: string;
  time?: string;
  jump?: string;
  jumpHostKey?: string;
  pollMs?: string;
  json?: boolean;
}

/** `[user@]host[:port]`. */
function parseHostSpec(spec: string, defaultUser: string): { host: string; port: number; user: string } {
  const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new Error(`cannot read '${spec}'; use [user@]host[:port]`);
  return { user: m[1] ?? defaultUser, host: m[2]!, port: m[3] ? Number(m[3]) : 22 };
}

/** A file's text, or the text itself when it is not a file (host keys are often pasted). */
function fileOrText(v: string): string {
  try {
    return readFileSync(v, 'utf8');
  } catch {
    return v;
  }
}

export function registerSlurm(program: Command): void {
  const slurm = program.command('slurm').description('Slurm clusters reached over SSH, where replicas and benchmark clients run as jobs');

  slurm
    .command('add <name>')
    .description('Add a Slurm cluster; its private key is sent to the server once and never shown again')
    .requiredOption('--host <host>', 'login node')
    .option('--port <port>', 'SSH port', '22')
    .requiredOption('--user <user>', 'SSH user')
    .requiredOption('--key <file>', 'SSH private key file')
    .requiredOption('--host-key <file|key>', "the login node's public host key (a .pub file, a known_hosts line's key, or SHA256:…)")
    .requiredOption('--work-dir <dir>', 'working directory on the cluster')
    .option('--partition <name>', 'default partition')
    .option('--account <name>', 'default account')
    .option('--qos <name>', 'default QOS')
    .option('--time <limit>', 'default time limit (minutes, H:MM:SS, D-HH:MM:SS)')
    .option('--jump <[user@]host[:port]>', 'jump host (ProxyJump)')
    .option('--jump-host-key <file|key>', "the jump host's public host key")
    .option('--poll-ms <ms>', 'how often job states are read (one squeue per interval)')
    .option('--json', 'print JSON')
    .action(async (name: string, o: AddOptions) => {
      if (o.jump && !o.jumpHostKey) throw new Error('--jump needs --jump-host-key: every host key is verified');
      const body = {
        name,
        host: o.host,
        port: Number(o.port),
        user: o.user,
        privateKey: readFileSync(o.key, 'utf8'),
        hostKey: fileOrText(o.hostKey).trim(),
        workDir: o.workDir,
        ...(o.partition ? { partition: o.partition } : {}),
        ...(o.account ? { account: o.account } : {}),
        ...(o.qos ? { qos: o.qos } : {}),
        ...(o.time ? { timeLimit: o.time } : {}),
        ...(o.pollMs ? { pollIntervalMs: Number(o.pollMs) } : {}),
        ...(o.jump ? { jump: { ...parseHostSpec(o.jump, o.user), hostKey: fileOrText(o.jumpHostKey!).trim() } } : {}),
      };
      const c = await client().request<SlurmCluster>('POST', '/api/v1/slurm-clusters', body);
      output(o.json, c, () => `Added Slurm cluster ${c.name} (${c.user}@${c.host}:${c.port}). Check it with: catapult slurm test ${c.name}`);
    });

  slurm
    .command('ls')
    .description('List Slurm clusters')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { items } = await client().request<{ items: SlurmCluster[] }>('GET', '/api/v1/slurm-clusters');
      output(o.json, items, () =>
        items.length === 0
          ? 'No Slurm clusters. Add one with: catapult slurm add NAME --host H --user U --key FILE --host-key FILE --work-dir DIR'
          : table(
              ['NAME', 'LOGIN', 'PARTITION', 'ACCOUNT', 'TIME', 'WORK DIR'],
              items.map((c) => [c.name, `${c.user}@${c.host}:${c.port}${c.jump ? ` via ${c.jump.host}` : ''}`, c.partition, c.account, c.timeLimit, c.workDir]),
            ),
      );
    });

  slurm
    .command('test <name>')
    .description('Connect over SSH and show the Slurm version, nodes with their GPUs, and partitions')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await client().request<ClusterReport & { cluster: string }>('POST', `${path(name)}/test`);
      output(o.json, r, () =>
        [
          `Slurm ${r.version} on ${r.cluster}: ${r.nodes.length} node(s), ${r.nodes.reduce((s, n) => s + n.gpus, 0)} GPU(s)`,
          table(
            ['NODE', 'STATE', 'CPUS', 'MEMORY', 'GPUS', 'GRES', 'PARTITIONS'],
            r.nodes.map((n) => [n.name, n.state, n.cpus, `${n.memoryMb} MB`, n.gpus, n.gres || '-', n.partitions.join(',')]),
          ),
          table(
            ['PARTITION', 'AVAIL', 'TIME LIMIT', 'NODES'],
            r.partitions.map((p) => [`${p.name}${p.isDefault ? ' (default)' : ''}`, p.available, p.timeLimit, p.nodes]),
          ),
        ].join('\n'),
      );
    });

  slurm
    .command('rm <name>')
    .description('Forget a Slurm cluster (refused while deployments run on it)')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const c = await client().request<SlurmCluster>('DELETE', path(name));
      output(o.json, c, () => `Removed Slurm cluster ${c.name}.`);
    });
}
