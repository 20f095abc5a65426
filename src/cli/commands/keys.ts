import type { Command } from 'commander';
import type { ApiKey } from '../../auth/index.js';
import { SCOPES } from '../../auth/index.js';
import { loadConfigFromProcess } from '../../config/index.js';
import { ApiClient } from '../client.js';
import { ago, output, table } from '../format.js';

function client(): ApiClient {
  return ApiClient.fromConfig(loadConfigFromProcess());
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('Manage API keys (needs an admin key)');

  keys
    .command('create')
    .description('Create an API key; its secret is printed once')
    .requiredOption('--name <name>', 'who or what uses the key')
    .option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, 'read')
    .option('--deployments <list>', 'limit infer to these deployments (comma-separated)')
    .option('--rpm <n>', 'data-plane requests per minute')
    .option('--tpm <n>', 'data-plane tokens per minute')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; scopes: string; deployments?: string; rpm?: string; tpm?: string; json?: boolean }) => {
      const body = {
        name: o.name,
        scopes: o.scopes.split(',').map((s) => s.trim()),
        ...(o.deployments ? { deployments: o.deployments.split(',').map((s) => s.trim()) } : {}),
        ...(o.rpm ? { rateLimitRpm: Number(o.rpm) } : {}),
        ...(o.tpm ? { rateLimitTpm: Number(o.tpm) } : {}),
      };
      const created = await client().post<{ key: ApiKey; secret: string }>('/api/v1/keys', body);
      output(!!o.json, created, () =>
        [
          `Created key ${created.key.id} (${created.key.name}) with scopes ${created.key.scopes.join(', ')}.`,
          `Secret (shown once, store it now):`,
          created.secret,
        ].join('\n'),
      );
    });

  keys
    .command('ls')
    .description('List API keys')
    .option('--all', 'include revoked keys')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; json?: boolean }) => {
      const { items } = await client().get<{ items: ApiKey[] }>(`/api/v1/keys${o.all ? '?includeRevoked=true' : ''}`);
      output(!!o.json, items, () =>
        table(
          ['ID', 'NAME', 'PREFIX', 'SCOPES', 'CREATED', 'LAST USED', 'STATE'],
          items.map((k) => [k.id, k.name, `${k.prefix}…`, k.scopes.join(','), ago(k.createdAt), ago(k.lastUsedAt), k.revokedAt ? 'revoked' : 'active']),
        ),
      );
    });

  keys
    .command('revoke <id>')
    .description('Revoke an API key at once')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const key = await client().delete<ApiKey>(`/api/v1/keys/${encodeURIComponent(id)}`);
      output(!!o.json, key, () => `Revoked ${key.id} (${key.name}).`);
    });
}
