import { describe, expect, it } from 'vitest';
import { isCatapultError } from '../errors/index.js';
import {
  type RuntimeBuildContext,
  customRuntime,
  getRuntime,
  irisPaths,
  listRuntimes,
  llamacppRuntime,
  onnxRuntime,
  runtimesForFormat,
  sglangRuntime,
  simulatorOptionsSchema,
  simulatorRuntime,
  tgiRuntime,
  tritonRuntime,
  vllmRuntime,
} from './index.js';
import { spawnRuntime } from './testing.js';

/** The parsed JSON body; JSON.parse leaves it untyped, which suits assertions on API shapes. */
async function readJson(res: Response) {
  return JSON.parse(await res.text());
}

const ctx = (extra: Partial<RuntimeBuildContext> = {}): RuntimeBuildContext => ({
  modelPath: '/models/llama-3-8b',
  modelName: 'llama3',
  port: 9001,
  host: '0.0.0.0',
  gpus: [2, 3],
  ...extra,
});

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('engine templates build the exact command line', () => {
  it('vLLM: vllm serve with one tensor-parallel shard per GPU', () => {
    const launch = vllmRuntime.buildCommand(ctx({ options: { maxModelLen: 8192, gpuMemoryUtilization: 0.9 }, args: ['--enable-prefix-caching'] }));
    expect(launch).toEqual({
      argv: [
        'vllm', 'serve', '/models/llama-3-8b', '--host', '0.0.0.0', '--port', '9001', '--served-model-name', 'llama3',
        '--tensor-parallel-size', '2', '--max-model-len', '8192', '--gpu-memory-utilization', '0.9', '--enable-prefix-caching',
      ],
      env: { CUDA_VISIBLE_DEVICES: '2,3' },
      protocol: 'openai',
      healthPath: '/health',
      readinessTimeoutMs: 1_200_000,
    });
  });

  it('TGI: text-generation-launcher with --num-shard', () => {
    expect(tgiRuntime.buildCommand(ctx({ gpus: [0] })).argv).toEqual([
      'text-generation-launcher', '--model-id', '/models/llama-3-8b', '--hostname', '0.0.0.0', '--port', '9001', '--num-shard', '1',
    ]);
    expect(tgiRuntime.buildCommand(ctx({ options: { numShard: 4, maxTotalTokens: 4096, dtype: 'bfloat16' } })).argv.slice(7)).toEqual([
      '--num-shard', '4', '--max-total-tokens', '4096', '--dtype', 'bfloat16',
    ]);
  });

  it('llama.cpp: llama-server offloads every layer when GPUs are assigned and none on CPU', () => {
    const gpu = llamacppRuntime.buildCommand(ctx({ modelPath: '/m/q4.gguf', gpus: [1] }));
    expect(gpu.argv).toEqual(['llama-server', '-m', '/m/q4.gguf', '--host', '0.0.0.0', '--port', '9001', '-ngl', '999', '--alias', 'llama3']);
    expect(gpu.env).toEqual({ CUDA_VISIBLE_DEVICES: '1' });
    const cpu = llamacppRuntime.buildCommand(ctx({ modelPath: '/m/q4.gguf', gpus: [], options: { ctxSize: 4096, parallel: 4 } }));
    expect(cpu.argv.slice(7)).toEqual(['-ngl', '0', '--alias', 'llama3', '-c', '4096', '-np', '4']);
    expect(cpu.env).toEqual({ CUDA_VISIBLE_DEVICES: '' });
  });

  it('SGLang: python3 -m sglang.launch_server with --tp', () => {
    expect(sglangRuntime.buildCommand(ctx({ gpuVendor: 'amd', options: { python: '/opt/venv/bin/python' } }))).toMatchObject({
      argv: [
        '/opt/venv/bin/python', '-m', 'sglang.launch_server', '--model-path', '/models/llama-3-8b', '--host', '0.0.0.0', '--port', '9001',
        '--tp', '2', '--served-model-name', 'llama3',
      ],
      env: { HIP_VISIBLE_DEVICES: '2,3' },
    });
  });

  it('Triton: tritonserver on the model repository, with gRPC and metrics only when given ports', () => {
    const withPorts = tritonRuntime.buildCommand(ctx({ modelPath: '/repo', modelName: 'resnet', ports: { grpc: 9002, metrics: 9003 } }));
    expect(withPorts).toMatchObject({
      argv: [
        'tritonserver', '--model-repository', '/repo', '--http-address', '0.0.0.0', '--http-port', '9001',
        '--grpc-address', '0.0.0.0', '--grpc-port', '9002', '--metrics-port', '9003',
      ],
      protocol: 'kserve-v2',
      healthPath: '/v2/health/ready',
    });
    const bare = tritonRuntime.buildCommand(ctx({ modelPath: '/repo', modelName: 'resnet', options: { modelControlMode: 'explicit' } }));
    expect(bare.argv.slice(7)).toEqual(['--allow-grpc', 'false', '--allow-metrics', 'false', '--model-control-mode', 'explicit', '--load-model', 'resnet']);
    expect(tritonRuntime.extraPorts).toEqual(['grpc', 'metrics']);
  });
});

describe('the custom runtime', () => {
  it('substitutes placeholders in argv and env, and takes protocol and health path from its options', () => {
    const launch = customRuntime.buildCommand(
      ctx({
        gpus: [0],
        options: {
          command: ['python', 'serve.py', '--port={port}', '--bind', '{host}', '--weights', '{model}', '--name', '{modelName}', '{"json": {notaplaceholder}}'],
          protocol: 'openai',
          healthPath: '/ready',
          env: { MODEL_DIR: '{model}', CUDA_VISIBLE_DEVICES: '7' },
        },
      }),
    );
    expect(launch).toEqual({
      argv: ['python', 'serve.py', '--port=9001', '--bind', '0.0.0.0', '--weights', '/models/llama-3-8b', '--name', 'llama3', '{"json": {notaplaceholder}}'],
      env: { MODEL_DIR: '/models/llama-3-8b', CUDA_VISIBLE_DEVICES: '0' },
      protocol: 'openai',
      healthPath: '/ready',
      readinessTimeoutMs: 120_000,
    });
  });

  it('rejects missing commands and unknown options with CATAPULT_RUNTIME_OPTIONS_INVALID', () => {
    const err = caught(() => customRuntime.buildCommand(ctx({ options: { protocol: 'grpc', shell: true } })));
    expect(isCatapultError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'CATAPULT_RUNTIME_OPTIONS_INVALID', status: 400 });
    const paths = (err as { extra: { errors: { path: string }[] } }).extra.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['options', 'options/command', 'options/protocol']));
  });
});

describe('the runtime registry', () => {
  it('lists the built-ins, the templates and custom', () => {
    expect(listRuntimes().map((r) => r.name)).toEqual(['onnx', 'simulator', 'vllm', 'tgi', 'llamacpp', 'sglang', 'triton', 'custom']);
    expect(getRuntime('vllm')).toBe(vllmRuntime);
  });

  it('answers an unknown name with CATAPULT_RUNTIME_UNKNOWN listing the known ones', () => {
    const err = caught(() => getRuntime('tensorrt'));
    expect(err).toMatchObject({ code: 'CATAPULT_RUNTIME_UNKNOWN', status: 400, extra: { runtime: 'tensorrt' } });
    expect((err as Error).message).toContain('onnx, simulator, vllm');
  });

  it('says which runtimes serve a format', () => {
    expect(runtimesForFormat('gguf').map((r) => r.name)).toEqual(['llamacpp', 'vllm', 'sglang']);
    expect(runtimesForFormat('onnx').map((r) => r.name)).toEqual(['onnx']);
    expect(runtimesForFormat('triton-repository').map((r) => r.name)).toEqual(['triton']);
  });

  it('rejects a context without a usable port or model', () => {
    const err = caught(() => vllmRuntime.buildCommand(ctx({ port: 0, modelPath: '' })));
    expect(err).toMatchObject({ code: 'CATAPULT_RUNTIME_OPTIONS_INVALID' });
    expect((err as Error).message).toContain('port');
    expect((err as Error).message).toContain('needs a model path');
  });
});

describe('the built-in runtimes run as catapult child processes', () => {
  it('build `catapult runtime onnx|simulator` command lines, passing only options that differ from the defaults', () => {
    const cmd = ['/usr/bin/node', '/opt/catapult/bin/catapult.js'];
    expect(onnxRuntime.buildCommand(ctx({ modelPath: '/m/iris.onnx', modelName: 'iris', gpus: [], catapultCommand: cmd, options: { threads: 2 } }))).toEqual({
      argv: [...cmd, 'runtime', 'onnx', '--model', '/m/iris.onnx', '--model-name', 'iris', '--host', '0.0.0.0', '--port', '9001', '--threads', '2'],
      env: { CUDA_VISIBLE_DEVICES: '' },
      protocol: 'kserve-v2',
      healthPath: '/v2/health/ready',
      readinessTimeoutMs: 30_000,
    });
    const sim = simulatorRuntime.buildCommand(
      ctx({ modelPath: '', gpus: [], catapultCommand: cmd, options: { ttftMs: 250, itlMs: 20, outputTokens: 'normal:200,50', seed: 3 } }),
    );
    expect(sim.argv).toEqual([
      ...cmd, 'runtime', 'simulator', '--model-name', 'llama3', '--host', '0.0.0.0', '--port', '9001',
      '--ttft-ms', '250', '--output-tokens', 'normal:200,50', '--seed', '3',
    ]);
    expect(sim.protocol).toBe('openai');
  });

  it('default to this installation, started from the sources when running from them', () => {
    const argv = simulatorRuntime.buildCommand(ctx({ modelPath: '' })).argv;
    expect(argv.slice(0, 2)).toEqual([process.execPath, '--import']);
    // An absolute loader URL: replicas run in their own working directory.
    expect(argv[2]).toMatch(/^file:\/\/\/.*\/tsx\/dist\/loader\.mjs$/);
    expect(argv[3]).toMatch(/src\/runtimes\/main\.ts$/);
    expect(argv.slice(4, 6)).toEqual(['runtime', 'simulator']);
  });

  it('reject simulator options the simulator does not have', () => {
    expect(caught(() => simulatorRuntime.buildCommand(ctx({ options: { ttft: 5 } })))).toMatchObject({ code: 'CATAPULT_RUNTIME_OPTIONS_INVALID' });
    expect(caught(() => simulatorRuntime.buildCommand(ctx({ options: { outputTokens: 'gaussian' } })))).toMatchObject({ code: 'CATAPULT_RUNTIME_OPTIONS_INVALID' });
    expect(simulatorOptionsSchema.parse({ outputTokens: 64 }).outputTokens).toEqual({ kind: 'fixed', value: 64 });
  });

  // Spawns real processes from the TypeScript sources; the compiled CLI starts faster.
  it('start, serve and stop: the demo model on onnx (two workers) and an LLM on the simulator', async () => {
    const [onnx, sim] = await Promise.all([
      spawnRuntime(onnxRuntime, { workers: 2 }, { modelPath: irisPaths().model, modelName: 'iris' }),
      spawnRuntime(simulatorRuntime, { ttftMs: 1, itlMs: 1 }),
    ]);
    try {
      const infer = await fetch(`${onnx.url}/v2/models/iris/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [6.3, 3.3, 6.0, 2.5] }] }),
      });
      expect((await readJson(infer)).outputs[1]).toEqual({ name: 'label', datatype: 'INT64', shape: [1], data: [2] });
      for (let i = 0; i < 5; i++) await fetch(`${onnx.url}/v2/models/iris/infer`, { method: 'POST', body: '{}' });
      // Two worker processes share the port; /metrics sums what both counted.
      const metrics = await (await fetch(`${onnx.url}/metrics`)).text();
      expect(metrics).toContain('catapult_onnx_requests_total{model="iris",outcome="success"} 1');
      expect(metrics).toContain('catapult_onnx_requests_total{model="iris",outcome="client_error"} 5');
      const chat = await fetch(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'simulator', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
      });
      expect((await readJson(chat)).usage.completion_tokens).toBe(3);
      expect(onnx.output()).toMatch(/onnx runtime serving .*model\.onnx at http:\/\/127\.0\.0\.1:\d+\/v2 \(KServe v2, 2 workers\)/);
    } finally {
      await Promise.all([onnx.stop(), sim.stop()]);
    }
  });
});
