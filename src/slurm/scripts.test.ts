import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PORT_PLACEHOLDER, clientScript, portWord, replicaScript } from './scripts.js';

describe('sbatch scripts', () => {
  it('runs a replica through apptainer exec with GPUs, binds and the port it picks on the node', () => {
    const script = replicaScript({
      resources: { jobName: 'catapult-slr_1', output: '/work/r/slr_1/output.log', partition: 'gpu', account: 'p200', qos: 'default', time: '1:00:00', cpusPerTask: 4, memoryBytes: 16 * 2 ** 30, gpus: 2 },
      dir: '/work/r/slr_1',
      endpointFile: '/work/r/slr_1/endpoint',
      argv: ['vllm', 'serve', '/models/llama', '--port', String(PORT_PLACEHOLDER), '--served-model-name', "it's"],
      env: { HF_HOME: '/scratch/hf cache', URL: `http://0.0.0.0:${PORT_PLACEHOLDER}/v1` },
      container: { image: '/images/vllm.sif', binds: ['/scratch:/scratch'] },
      binds: ['/models/llama'],
    });
    expect(script).toBe(
      [
        '#!/bin/bash',
        '#SBATCH --job-name=catapult-slr_1',
        '#SBATCH --output=/work/r/slr_1/output.log',
        '#SBATCH --open-mode=append',
        '#SBATCH --partition=gpu',
        '#SBATCH --account=p200',
        '#SBATCH --qos=default',
        '#SBATCH --time=1:00:00',
        '#SBATCH --cpus-per-task=4',
        '#SBATCH --mem=16384M',
        '#SBATCH --gres=gpu:2',
        'set -euo pipefail',
        'cd /work/r/slr_1',
        'PORT=""',
        'for p in $(shuf -i 20000-60000 -n 64); do',
        '  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi',
        'done',
        '[ -n "$PORT" ] || { echo "catapult: no free port found on $(hostname)" >&2; exit 1; }',
        "export HF_HOME='/scratch/hf cache'",
        'export URL=http://0.0.0.0:"$PORT"/v1',
        'echo "catapult: job $SLURM_JOB_ID serving on $(hostname):$PORT"',
        'echo "$(hostname) $PORT $SLURM_JOB_ID" > /work/r/slr_1/endpoint.tmp && mv /work/r/slr_1/endpoint.tmp /work/r/slr_1/endpoint',
        `exec apptainer exec --nv --bind /models/llama --bind /scratch:/scratch /images/vllm.sif vllm serve /models/llama --port "$PORT" --served-model-name 'it'\\''s'`,
        '',
      ].join('\n'),
    );
  });

  it('uses --rocm for AMD images and no apptainer without an image', () => {
    const base = { resources: { jobName: 'j', output: '/o' }, dir: '/d', endpointFile: '/d/e', argv: ['serve'], env: {} };
    expect(replicaScript({ ...base, container: { image: 'docker://rocm/vllm', gpuVendor: 'amd' } })).toContain('exec apptainer exec --rocm docker://rocm/vllm serve\n');
    expect(replicaScript(base)).toContain('\nexec serve\n');
  });

  it('quotes words so that bash gives back exactly the original strings', () => {
    const words = ['plain', 'with space', "it's", '$HOME', '`id`', 'a"b', '', `x${PORT_PLACEHOLDER}y`];
    const out = execFileSync('bash', ['-c', `PORT=4242; for w in ${words.map(portWord).join(' ')}; do printf '%s\\n' "$w"; done`], { encoding: 'utf8' });
    expect(out.split('\n').slice(0, -1)).toEqual(['plain', 'with space', "it's", '$HOME', '`id`', 'a"b', '', 'x4242y']);
  });

  it("gives a benchmark client seed 004's SERVICE_* variables and a metrics file", () => {
    const s = clientScript({
      resources: { jobName: 'catapult-bc-1', output: '/w/c1/output.log', time: '10' },
      dir: '/w/c1',
      command: 'curl -s "$SERVICE_URL/health" > "$METRICS_FILE"',
      service: { name: 'iris', hostname: 'node7', port: 31337 },
      metricsFile: '/w/c1/metrics.json',
    });
    expect(s).toContain("export SERVICE_NAME=iris\nexport SERVICE_HOSTNAME=node7\nexport SERVICE_PORT=31337\nexport SERVICE_URL=http://node7:31337\nexport METRICS_FILE=/w/c1/metrics.json\n");
    expect(s).toContain(`exec bash -c 'curl -s "$SERVICE_URL/health" > "$METRICS_FILE"'\n`);
  });
});
