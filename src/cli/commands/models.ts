import type { Command } from 'commander';
import type { Model, ModelDescriptor, ScanReport } from '../../models/index.js';
import { formatBytes } from '../../util/index.js';
import type { ApiClient } from '../client.js';
import { output, table } from '../format.js';

/** A model's intake state, estimate and scan verdict, for people. */
export function describeModel(m: Model): string {
  const lines = [`  state      ${m.state}${m.error ? ` — ${m.error}` : ''}`];
  if (m.parameterCount !== null) lines.push(`  parameters ${m.parameterCount.toLocaleString('en-US')}`);
  if (m.estimate) {
    const e = m.estimate;
    lines.push(
      `  GPU memory ${formatBytes(e.totalBytes)} per replica = weights ${formatBytes(e.weightsBytes)} + KV cache ${formatBytes(e.kvCacheBytes)} ` +
        `(${e.kvBytesPerToken} B/token × ${e.contextLength} tokens × ${e.concurrency}) + activations ${formatBytes(e.activationBytes)} + runtime ${formatBytes(e.runtimeOverheadBytes)}`,
    );
  }
  if (m.scanVerdict) lines.push(`  scan       ${m.scanVerdict}, ${m.findingCount} finding(s)`);
  if (m.override) lines.push(`  override   by ${m.override.by}: ${m.override.reason}`);
  return lines.join('\n');
}

function describeScan(r: ScanReport): string {
  const head = `verdict ${r.verdict}: ${r.filesScanned} file(s), ${r.picklesScanned} pickle(s), ${r.findings.length} finding(s)`;
  if (r.findings.length === 0) return head;
  return `${head}\n${table(['SEVERITY', 'KIND', 'WHERE', 'WHY'], r.findings.map((f) => [f.severity, f.kind, f.location, f.message]))}`;
}

export function registerModelIntake(models: Command, client: () => ApiClient): void {
  models
    .command('get <model>')
    .description("Show a model: intake state, descriptor summary, GPU memory estimate and scan verdict")
    .option('--descriptor', 'print the full descriptor (JSON)')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { descriptor?: boolean; json?: boolean }) => {
      const c = client();
      const m = await c.get<Model>(`/api/v1/models/${encodeURIComponent(ref)}`);
      if (o.descriptor) {
        const d = await c.get<ModelDescriptor>(`/api/v1/models/${encodeURIComponent(m.id)}/descriptor`);
        output(true, d, () => '');
        return;
      }
      output(o.json, m, () => `${m.name}:${m.version} (${m.id}) ${m.format} ${formatBytes(m.sizeBytes)} at ${m.path}\n${describeModel(m)}`);
    });
  models
    .command('scan <model>')
    .description('Show the security scan of a model; --rescan analyses and scans it again')
    .option('--rescan', 'run intake again first')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { rescan?: boolean; json?: boolean }) => {
      const c = client();
      if (o.rescan) await c.post<Model>(`/api/v1/models/${encodeURIComponent(ref)}/scan`, {});
      const r = await c.get<ScanReport>(`/api/v1/models/${encodeURIComponent(ref)}/scan`);
      output(o.json, r, () => describeScan(r));
      if (r.verdict === 'unsafe') process.exitCode = 3;
    });
  models
    .command('override <model>')
    .description('Allow a model the scanner refused to deploy (admin; audited)')
    .requiredOption('--reason <text>', 'why it is trusted')
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { reason: string; json?: boolean }) => {
      const m = await client().post<Model>(`/api/v1/models/${encodeURIComponent(ref)}/override`, { reason: o.reason });
      output(o.json, m, () => `Override recorded for ${m.name}:${m.version} by ${m.override?.by}.`);
    });
}
