import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FixtureSample, modelFixtures } from '../../test/helpers/modelFixtures.js';
import { analyzeModel } from './analyze.js';
import { scanModel } from './scan.js';

let dir = '';
let manifest: FixtureSample[] = [];
beforeAll(() => {
  ({ dir, manifest } = modelFixtures());
}, 120_000);

describe('security scanner', () => {
  it('marks every malicious sample unsafe and every benign one safe', async () => {
    const wrong: string[] = [];
    for (const s of manifest) {
      const report = await scanModel(join(dir, s.path));
      if (report.verdict !== s.expect) wrong.push(`${s.path}: expected ${s.expect}, got ${report.verdict} ${JSON.stringify(report.findings)}`);
    }
    expect(wrong).toEqual([]);
    expect(manifest.filter((s) => s.expect === 'unsafe').length).toBeGreaterThanOrEqual(18);
  });

  it('says where and why: the global, the opcode, the byte offset', async () => {
    const r = await scanModel(join(dir, 'malicious/stack_global.pkl'));
    expect(r.findings).toContainEqual(expect.objectContaining({ severity: 'critical', kind: 'pickle-global', message: expect.stringContaining('STACK_GLOBAL imports posix.system') }));
    const nested = await scanModel(join(dir, 'malicious/torch_nested_member.pt'));
    expect(nested.findings.map((f) => f.location)).toContainEqual(expect.stringMatching(/torch_nested_member\.pt!archive\/extra\/state\.bin@\d+/));
    expect(nested.findings.some((f) => f.message.includes('runpy._run_code'))).toBe(true);
    const slip = await scanModel(join(dir, 'malicious/zip_traversal.pt'));
    expect(slip.findings).toContainEqual(expect.objectContaining({ kind: 'zip-traversal', location: 'zip_traversal.pt!../../../../tmp/evil.sh' }));
    const onnx = await scanModel(join(dir, 'malicious/onnx-escape'));
    expect(onnx.findings).toContainEqual(expect.objectContaining({ kind: 'onnx-external-escape', location: 'model.onnx#W' }));
  });

  it('refuses a truncated pickle and a header claiming petabytes', async () => {
    const t = await scanModel(join(dir, 'bad/truncated.pkl'));
    expect(t.verdict).toBe('unsafe');
    expect(t.findings.map((f) => f.message).join(' ')).toMatch(/truncated/);
    const p = await scanModel(join(dir, 'bad/petabytes.safetensors'));
    expect(p.findings).toContainEqual(expect.objectContaining({ kind: 'oversized-header' }));
  });
});

describe('analyzer', () => {
  it('lists a torch.save checkpoint tensors from data.pkl without running it', async () => {
    const d = await analyzeModel(join(dir, 'benign/model.pt'));
    expect(d.format).toBe('pytorch');
    expect(d.parameterCount).toBe(4 * 8 + 8 + 8 * 3 + 3);
    expect(d.tensors!.items).toContainEqual({ name: '0.weight', dtype: 'F32', shape: [8, 4] });
    const legacy = await analyzeModel(join(dir, 'benign/legacy.pt'));
    expect(legacy.parameterCount).toBe(67);
    const half = await analyzeModel(join(dir, 'benign/half.pt'));
    expect(half.dtypes).toEqual({ F16: { tensors: 1, parameters: 40, bytes: 80 }, BF16: { tensors: 1, parameters: 6, bytes: 12 } });
    expect(half.tensors!.items.map((t) => t.name)).toEqual(['emb.weight', 'nested.w']);
  });

  it('reads an ONNX graph: opset, op histogram, inputs and outputs, parameters', async () => {
    const d = await analyzeModel(join(dir, 'benign/model.onnx'));
    expect(d.onnx).toMatchObject({ opsets: [{ domain: 'ai.onnx', version: 13 }], ops: { MatMul: 1, Add: 1, Relu: 1 }, producer: 'catapult-fixtures' });
    expect(d.onnx!.inputs).toEqual([{ name: 'x', dtype: 'FP32', shape: ['batch', 4] }]);
    expect(d.onnx!.outputs).toEqual([{ name: 'z', dtype: 'FP32', shape: ['batch', 3] }]);
    expect(d.parameterCount).toBe(15);
  });

  it('reads a GGUF header: architecture, quantisation, context, tokenizer, chat template', async () => {
    const d = await analyzeModel(join(dir, 'benign/tiny.gguf'));
    expect(d.gguf).toMatchObject({ architecture: 'llama', name: 'tiny-llama', quantization: 'F32', contextLength: 256, tensorCount: 2 });
    expect(d.parameterCount).toBe(8 * 16 + 16);
    expect(d.tokenizer).toMatchObject({ type: 'llama', vocabSize: 8, specialTokens: { bos: 't1', eos: 't2' } });
    expect(d.tokenizer!.chatTemplate).toContain('m.content');
  });

  it('reads a Hugging Face folder: config, safetensors shards, tokenizer and licence', async () => {
    const d = await analyzeModel(join(dir, 'hf-llama'));
    expect(d.format).toBe('huggingface');
    expect(d.weightsFormat).toBe('safetensors');
    // Hand count: embed 32*16 + lm_head 32*16 + norm 16, per layer q 256 + k 128 + v 128 + o 256 + mlp 3*512 + 2 norms 32.
    expect(d.parameterCount).toBe(512 + 512 + 16 + 2 * (256 + 128 + 128 + 256 + 3 * 512 + 32));
    expect(d.architecture).toMatchObject({ modelType: 'llama', layers: 2, hiddenSize: 16, heads: 4, kvHeads: 2, headDim: 4, vocabSize: 32, maxPositions: 128, dtype: 'float16' });
    expect(d.tokenizer).toMatchObject({ type: 'BPE', vocabSize: 32, specialTokens: { bos: '<s>', eos: '</s>' } });
    expect(d.licence).toEqual({ id: 'Apache-2.0', source: 'LICENSE' });
  });

  it('gives a clear error for a truncated file, a liar, a petabyte header and two models in one folder', async () => {
    await expect(analyzeModel(join(dir, 'bad/truncated.safetensors'))).rejects.toThrow(/truncated/);
    await expect(analyzeModel(join(dir, 'bad/petabytes.safetensors'))).rejects.toThrow(/claims 1125899906842624 bytes/);
    await expect(analyzeModel(join(dir, 'bad/liar.safetensors'))).rejects.toThrow(/lies about its format/);
    await expect(analyzeModel(join(dir, 'bad/two-models'))).rejects.toThrow(/2 formats .*register each file by itself/);
  });
});
