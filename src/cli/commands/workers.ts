import type { Command } from 'commander';
import type { JoinToken, Worker } from '../../cluster/index.js';
import { loadConfigFromProcess } from '../../config/index.js';
import { formatBytes } from '../../util/index.js';
import { ApiClient } from '../client.js';
import { ago, output, table } from '../format.js';

function client(): ApiClient {
  return ApiClient.fromConfig(loadConfigFromProcess());
}

const path = (id: string) => `/api/v1/workers/${encodeURIComponent(id)}`;

/** "2× NVIDIA H100 (fake)", "1× NVIDIA H100 80GB HBM3", or "-". */
export function gpuSummary(w: Pick<Worker, 'gpus'>): string {
  if (w.gpus.length === 0) return '-';
  const groups = new Map<string, number>();
  for (const g of w.gpus) {
    const key = `${g.name}${g.fake ? ' (fake)' : ''}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([name, n]) => `${n}× ${name}`).join(', ');
}

function stateText(w: Worker): string {
  return w.cordoned && !w.draining ? `${w.state},cordoned` : w.state;
}

function describeWorker(w: Worker): string {
  const lines = [
    `Worker ${w.name} (${w.id})`,
    `  State       ${stateText(w)} since ${ago(w.stateChangedAt)}; last heartbeat ${ago(w.lastHeartbeatAt)}`,
    `  Labels      ${Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`,
    `  CPU         ${w.allocated.cpu} of ${w.capacity.cpuCores} cores reserved`,
    `  Memory      ${formatBytes(w.allocated.memoryBytes)} of ${formatBytes(w.capacity.memoryBytes)} reserved`,
    `  Replicas    ${w.replicas.total}${w.replicas.total ? ` (${Object.entries(w.replicas.byState).map(([s, n]) => `${n} ${s}`).join(', ')})` : ''}`,
    `  Models      ${w.cachedModels.join(', ') || '-'}`,
    `  Agent       ${w.agentVersion ?? '?'} on ${w.hostname ?? '?'}${w.clockSkewMs !== null && Math.abs(w.clockSkewMs) > 2000 ? `; its clock is ${Math.round(w.clockSkewMs / 1000)} s off (liveness uses the server's clock)` : ''}`,
  ];
  if (w.gpus.length === 0) {
    lines.push('  GPUs        none');
  } else {
    lines.push('  GPUs');
    lines.push(
      table(
        ['    GPU', 'NAME', 'MEMORY', 'USED', 'RESERVED', 'FREE', 'UTIL', 'TEMP'],
        w.gpus.map((g) => [
          `    ${g.vendor}:${g.index}`,
          `${g.name}${g.fake ? ' (fake)' : ''}`,
          formatBytes(g.memoryTotalBytes),
          formatBytes(g.memoryUsedBytes),
          formatBytes(g.reservedBytes),
          formatBytes(g.freeBytes),
          g.utilizationPercent === null ? '-' : `${g.utilizationPercent}%`,
          g.temperatureC === null ? '-' : `${g.temperatureC}C`,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/** `30m`, `12h`, `7d`, `90s` or plain seconds, in seconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/i.exec(text);
  if (!m) throw new Error(`cannot read duration '${text}'; use e.g. 30m, 12h, 7d`);
  const unit = (m[2] ?? 's').toLowerCase();
  const factor = unit === 'd' ? 86400 : unit === 'h' ? 3600 : unit === 'm' ? 60 : 1;
  return Math.max(1, Math.round(Number(m[1]) * factor));
}

export function registerWorkers(program: Command): void {
  const workers = program.command('workers').description('Machines running `catapult agent`: list, inspect, cordon, drain, remove');

  workers
    .command('ls')
    .description('List workers with their state, GPUs and free GPU memory')
    .option('--state <state>', 'only ready, not_ready, offline or draining workers')
    .option('--json', 'print JSON')
    .action(async (o: { state?: string; json?: boolean }) => {
      const { items } = await client().get<{ items: Worker[] }>(`/api/v1/workers${o.state ? `?state=${encodeURIComponent(o.state)}` : ''}`);
      output(!!o.json, items, () =>
        items.length === 0
          ? 'No workers yet. Start one with: catapult agent --server URL --token $(catapult join-token create --quiet)'
          : table(
              ['NAME', 'ID', 'STATE', 'GPUS', 'GPU FREE', 'CPU', 'MEMORY', 'REPLICAS', 'LAST SEEN'],
              items.map((w) => [
                w.name,
                w.id,
                stateText(w),
                gpuSummary(w),
                w.gpus.length ? formatBytes(w.gpus.reduce((s, g) => s + g.freeBytes, 0)) : '-',
                `${w.allocated.cpu}/${w.capacity.cpuCores}`,
                `${formatBytes(w.allocated.memoryBytes)}/${formatBytes(w.capacity.memoryBytes)}`,
                w.replicas.total,
                ago(w.lastHeartbeatAt),
              ]),
            ),
      );
    });

  workers
    .command('get <worker>')
    .description('Show one worker (by name or id): GPUs with used, reserved and free memory, replicas, labels')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const w = await client().get<Worker>(path(id));
      output(!!o.json, w, () => describeWorker(w));
    });

  for (const [verb, what] of [
    ['cordon', 'Stop placing new replicas on a worker; running ones stay'],
    ['uncordon', 'Make a worker schedulable again (also ends a drain)'],
    ['drain', 'Cordon a worker and move its replicas elsewhere; those that fit nowhere stay until they can'],
  ] as const) {
    workers
      .command(`${verb} <worker>`)
      .description(what)
      .option('--json', 'print JSON')
      .action(async (id: string, o: { json?: boolean }) => {
        const w = await client().post<Worker>(`${path(id)}/${verb}`, {});
        output(!!o.json, w, () => `Worker ${w.name} is ${stateText(w)}; ${w.replicas.total} replica${w.replicas.total === 1 ? '' : 's'} on it.`);
      });
  }

  workers
    .command('rm <worker>')
    .description('Remove a worker and revoke its agent credential')
    .option('--force', 'also when it is live and runs replicas (they move elsewhere at once)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { force?: boolean; json?: boolean }) => {
      const w = await client().delete<Worker>(`${path(id)}${o.force ? '?force=true' : ''}`);
      output(!!o.json, w, () => `Removed worker ${w.name} (${w.id}).`);
    });

  const tokens = program.command('join-token').description('Tokens that let agents join the cluster');

  tokens
    .command('create')
    .description('Create a join token; its secret is printed once')
    .option('--name <name>', 'what the token is for')
    .option('--expires <duration>', 'lifetime, e.g. 30m, 12h, 7d, or "never" (default: 24h)')
    .option('--max-uses <n>', 'how many agents may join with it (default: unlimited)')
    .option('--quiet', 'print only the secret')
    .option('--json', 'print JSON')
    .action(async (o: { name?: string; expires?: string; maxUses?: string; quiet?: boolean; json?: boolean }) => {
      const config = loadConfigFromProcess();
      const body = {
        ...(o.name ? { name: o.name } : {}),
        ...(o.expires === 'never' ? { expiresAt: null } : o.expires ? { expiresInSeconds: parseDuration(o.expires) } : {}),
        ...(o.maxUses ? { maxUses: Number(o.maxUses) } : {}),
      };
      const created = await ApiClient.fromConfig(config).post<{ token: JoinToken; secret: string }>('/api/v1/join-tokens', body);
      if (o.quiet && !o.json) {
        process.stdout.write(`${created.secret}\n`);
        return;
      }
      const t = created.token;
      output(!!o.json, created, () =>
        [
          `Created join token ${t.id} (${t.name}); ${t.expiresAt ? `expires ${new Date(t.expiresAt).toISOString()}` : 'never expires'}, ${t.maxUses ? `${t.maxUses} use${t.maxUses === 1 ? '' : 's'}` : 'unlimited uses'}.`,
          'Secret (shown once):',
          created.secret,
          '',
          'Join a machine with:',
          `  catapult agent --server ${config.url} --token ${created.secret}`,
        ].join('\n'),
      );
    });

  tokens
    .command('ls')
    .description('List join tokens')
    .option('--all', 'include revoked tokens')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const { items } = await client().get<{ items: JoinToken[] }>(`/api/v1/join-tokens${o.all ? '?includeRevoked=true' : ''}`);
      output(!!o.json, items, () =>
        table(
          ['ID', 'NAME', 'PREFIX', 'USES', 'EXPIRES', 'CREATED', 'STATE'],
          items.map((t) => [
            t.id,
            t.name,
            `${t.prefix}…`,
            t.maxUses ? `${t.uses}/${t.maxUses}` : t.uses,
            t.expiresAt ? new Date(t.expiresAt).toISOString() : 'never',
            ago(t.createdAt),
            t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt <= Date.now() ? 'expired' : 'active',
          ]),
        ),
      );
    });

  tokens
    .command('revoke <id>')
    .description('Revoke a join token (agents that joined with it keep their own credentials)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await client().delete<JoinToken>(`/api/v1/join-tokens/${encodeURIComponent(id)}`);
      output(!!o.json, t, () => `Revoked join token ${t.id} (${t.name}).`);
    });
}
