import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { loadConfigFromProcess } from '../../config/index.js';
import type { Deployment } from '../../deployments/index.js';
import type { Model } from '../../models/index.js';
import { formatBytes } from '../../util/index.js';
import { ApiClient } from '../client.js';
import { ago, output, table } from '../format.js';
import { describeModel, registerModelIntake } from './models.js';

function client(): ApiClient {
  return ApiClient.fromConfig(loadConfigFromProcess());
}

function describeDeployment(d: Deployment): string {
  const lines = [
    `${d.name} (${d.id})`,
    `  state      ${d.state}${d.reason ? ` — ${d.reason}` : ''}`,
    `  runtime    ${d.runtime} (${d.protocol})`,
    `  replicas   ${d.replicas.ready}/${d.replicas.desired} ready, generation ${d.generation}`,
    ...Object.entries(d.urls).map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
  ];
  if (d.replicas.items.length > 0) {
    lines.push('', table(['REPLICA', 'GEN', 'STATE', 'WORKER', 'GPUS', 'URL', 'MESSAGE'], d.replicas.items.map((r) => [r.id, r.generation, r.desired === 'stop' ? `${r.state} (stopping)` : r.state, r.workerId, r.gpuIndices.join(',') || '-', r.url, (r.message ?? '').split('\n')[0]])).replace(/^/gm, '  '));
  }
  for (const r of d.replicas.items) {
    const why = r.explanation as { summary?: string; reasons?: { worker: string; reason: string }[] } | null;
    if (why?.summary) {
      lines.push('', `  ${r.id} not placed: ${why.summary}`, ...(why.reasons ?? []).slice(0, 10).map((x) => `    ${x.worker}: ${x.reason}`));
    }
  }
  return lines.join('\n');
}

export function registerDeployments(program: Command): void {
  const models = program.command('models').description('Register and list models');
  models
    .command('add <source>')
    .description('Register a model file or directory (a local path or file:// URI)')
    .requiredOption('--name <name>', 'model name')
    .option('--version <v>', 'model version', '1')
    .option('--description <text>', 'what it is')
    .option('--json', 'print JSON')
    .action(async (source: string, o: { name: string; version: string; description?: string; json?: boolean }) => {
      const path = /^[a-z]+:\/\//.test(source) ? source : resolve(source);
      const m = await client().post<Model>('/api/v1/models', { name: o.name, version: o.version, source: path, ...(o.description ? { description: o.description } : {}) });
      output(o.json, m, () => `Registered ${m.name}:${m.version} (${m.id}): ${m.format}, ${formatBytes(m.sizeBytes)} — ${m.formatEvidence}\n${describeModel(m)}`);
      if (m.state === 'unsafe' || m.state === 'failed') process.exitCode = 3;
    });
  registerModelIntake(models, client);
  models
    .command('ls')
    .description('List models')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { items } = await client().get<{ items: Model[] }>('/api/v1/models');
      output(o.json, items, () => table(['ID', 'NAME', 'VERSION', 'FORMAT', 'STATE', 'SIZE', 'PATH', 'CREATED'], items.map((m) => [m.id, m.name, m.version, m.format, m.state, formatBytes(m.sizeBytes), m.path, ago(m.createdAt)])));
    });
  models
    .command('rm <model>')
    .description('Delete a model registration (its files stay); refused while deployed')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { json?: boolean }) => {
      const m = await client().delete<Model>(`/api/v1/models/${encodeURIComponent(ref)}`);
      output(o.json, m, () => `Deleted ${m.name}:${m.version}.`);
    });

  program
    .command('deploy')
    .description('Create a deployment from a YAML/JSON file or flags')
    .option('-f, --file <file>', 'deployment spec (YAML or JSON)')
    .option('--name <name>', 'deployment name')
    .option('--model <model>', 'model id, name or name:version')
    .option('--runtime <runtime>', 'runtime (onnx, simulator, vllm, tgi, llama.cpp, sglang, triton, custom)')
    .option('--replicas <n>', 'replicas', '1')
    .option('--gpus <n>', 'GPUs per replica')
    .option('--gpu-memory <size>', 'GPU memory per GPU, e.g. 16GiB')
    .option('--json', 'print JSON')
    .action(async (o: { file?: string; name?: string; model?: string; runtime?: string; replicas: string; gpus?: string; gpuMemory?: string; json?: boolean }) => {
      let spec: Record<string, unknown>;
      if (o.file) {
        spec = parseYaml(readFileSync(o.file, 'utf8')) as Record<string, unknown>;
      } else {
        if (!o.name || !o.runtime) throw new Error('give -f FILE, or at least --name and --runtime');
        spec = {
          name: o.name,
          runtime: o.runtime,
          replicas: Number(o.replicas),
          ...(o.model ? { model: o.model } : {}),
          ...(o.gpus || o.gpuMemory ? { resources: { gpus: { ...(o.gpus ? { count: Number(o.gpus) } : {}), ...(o.gpuMemory ? { memory: o.gpuMemory } : {}) } } } : {}),
        };
      }
      const d = await client().post<Deployment>('/api/v1/deployments', spec);
      output(o.json, d, () => `Created deployment ${d.name} (${d.id}); it is ${d.state}. Watch it with: catapult deployments get ${d.name}`);
    });

  const deps = program.command('deployments').description('List, inspect, scale and delete deployments');
  deps
    .command('ls')
    .description('List deployments')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { items } = await client().get<{ items: Deployment[] }>('/api/v1/deployments');
      output(o.json, items, () =>
        table(['NAME', 'STATE', 'READY', 'RUNTIME', 'URL', 'AGE'], items.map((d) => [d.name, d.state, `${d.replicas.ready}/${d.replicas.desired}`, d.runtime, Object.values(d.urls)[0], ago(d.createdAt)])),
      );
    });
  deps
    .command('get <deployment>')
    .description('Show a deployment, its replicas, and why any is not placed')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { json?: boolean }) => {
      const d = await client().get<Deployment>(`/api/v1/deployments/${encodeURIComponent(ref)}`);
      output(o.json, d, () => describeDeployment(d));
    });
  deps
    .command('scale <deployment> <replicas>')
    .description('Change the number of replicas')
    .option('--json', 'print JSON')
    .action(async (ref: string, replicas: string, o: { json?: boolean }) => {
      const d = await client().request<Deployment>('PATCH', `/api/v1/deployments/${encodeURIComponent(ref)}`, { replicas: Number(replicas) });
      output(o.json, d, () => `Scaling ${d.name} to ${d.replicas.desired} replica(s).`);
    });
  deps
    .command('logs <deployment>')
    .description("Print a deployment's replica logs")
    .option('--replica <id>', 'one replica only')
    .option('--tail <n>', 'lines per replica', '100')
    .option('-f, --follow', 'keep printing new lines')
    .action(async (ref: string, o: { replica?: string; tail: string; follow?: boolean }) => {
      const c = client();
      const q = new URLSearchParams({ tail: o.tail, ...(o.replica ? { replica: o.replica } : {}) });
      let cursor = 0;
      for (;;) {
        const page = await c.get<{ items: { replica: string; seq: number; line: string }[]; next: number }>(
          `/api/v1/deployments/${encodeURIComponent(ref)}/logs?${q.toString()}${cursor ? `&since=${cursor}` : ''}`,
        );
        for (const l of page.items) process.stdout.write(`[${l.replica}] ${l.line}\n`);
        cursor = page.next;
        if (!o.follow) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
  deps
    .command('rm <deployment>')
    .description('Delete a deployment (its replicas stop first)')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { json?: boolean }) => {
      const d = await client().delete<Deployment>(`/api/v1/deployments/${encodeURIComponent(ref)}`);
      output(o.json, d, () => `Deleting ${d.name}: its replicas are stopping.`);
    });
}
