import { describe, expect, it } from 'vitest';
import { RecipeError, parseRecipe } from './recipe.js';

const GOOD = `name: chat smoke
target:
  deployment: chat-sim
workload:
  api: openai-chat
  dataset:
    type: synthetic
    inputTokens: 128
    outputTokens: { dist: normal, mean: 64, stddev: 8 }
load:
  type: poisson
  rate: 20
stop:
  duration: 30s
  warmup: 2s
slo:
  ttftMs: 200
`;

function issuesOf(text: string): { path: string; line: number | null; message: string }[] {
  try {
    parseRecipe(text);
  } catch (err) {
    if (err instanceof RecipeError) return err.issues;
    throw err;
  }
  throw new Error('expected the recipe to be rejected');
}

describe('benchmark recipes', () => {
  it('parses a good recipe and fills in defaults, durations in milliseconds', () => {
    const r = parseRecipe(GOOD);
    expect(r.stop.duration).toBe(30_000);
    expect(r.stop.warmup).toBe(2000);
    expect(r.clients).toEqual({ count: 1, where: 'local' });
    expect(r.workload.stream).toBe(true);
    expect(r.load.burstiness).toBe(1);
  });

  it('names the path and line of a wrong value', () => {
    const issues = issuesOf(GOOD.replace('rate: 20', 'rate: -3'));
    expect(issues).toEqual([expect.objectContaining({ path: 'load.rate', line: 12 })]);
  });

  it('names the line of an unknown field', () => {
    const issues = issuesOf(GOOD.replace('  warmup: 2s', '  warmpu: 2s'));
    expect(issues[0]).toMatchObject({ path: 'stop.warmpu', line: 15, message: expect.stringContaining("'warmpu'") });
  });

  it('explains a load without its rate and a target with two kinds', () => {
    const issues = issuesOf(GOOD.replace('  rate: 20\n', '').replace('  deployment: chat-sim', '  deployment: chat-sim\n  url: http://x:1'));
    const messages = issues.map((i) => `${i.path}@${i.line}: ${i.message}`).join('\n');
    expect(messages).toMatch(/target@2: give exactly one of deployment, endpoint, url or service/);
    expect(messages).toMatch(/load.rate@\d+: a poisson load needs rate/);
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesOf('name: x\ntarget: [unclosed\n');
    expect(issues[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('rejects a bad duration string saying what a duration looks like', () => {
    const issues = issuesOf(GOOD.replace('duration: 30s', 'duration: soon'));
    expect(issues[0]).toMatchObject({ path: 'stop.duration', line: 14, message: expect.stringContaining('30s') });
  });

  it("takes seed 004's command clients on Slurm without a workload, and names what such a recipe lacks or mixes up", () => {
    const slurm = `name: hpc
target:
  service: { runtime: onnx, model: iris, backend: slurm }
clients: { count: 2, where: slurm, cluster: hpc, command: 'curl -s $SERVICE_URL' }
`;
    const r = parseRecipe(slurm);
    expect(r.clients).toMatchObject({ count: 2, where: 'slurm', cluster: 'hpc', command: 'curl -s $SERVICE_URL' });
    expect(r.target.service!.backend).toBe('slurm');
    const missing = issuesOf(slurm.replace(', cluster: hpc, command: \'curl -s $SERVICE_URL\'', ''));
    expect(missing.map((i) => i.path)).toEqual(expect.arrayContaining(['clients.cluster', 'clients.command', 'target.service.placement']));
    const local = issuesOf(GOOD + 'clients: { count: 1, where: local, command: ls }\n');
    expect(local[0]).toMatchObject({ path: 'clients.command', message: expect.stringContaining('where: slurm') });
    const k8s = issuesOf(GOOD.replace('deployment: chat-sim', 'service: { runtime: vllm, backend: kubernetes }'));
    expect(k8s[0]).toMatchObject({ path: 'target.service.backend', message: expect.stringContaining('kubernetes') });
  });
});
