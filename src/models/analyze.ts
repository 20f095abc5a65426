import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { GGMLFileQuantizationType, GGMLQuantizationType, gguf } from '@huggingface/gguf';
import onnxProto from 'onnx-proto';
import { openZip } from './archive.js';
import { DESCRIPTOR_VERSION, type ModelDescriptor } from './descriptor.js';
import { type ModelFile, listModelFiles, readHead } from './files.js';
import { bufferSource, looksLikePickle, pickledTensors, walkPickle } from './pickle.js';

/** Why a model could not be analysed: shown to people as the model's error, with where it applies. */
export class AnalysisError extends Error {
  constructor(
    message: string,
    readonly location: string,
  ) {
    super(message);
  }
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1, C64: 8, C128: 16,
};
/** Bytes per element of a dtype name (safetensors spelling); 2 when unknown. */
export function dtypeBytes(dtype: string | null | undefined): number {
  if (!dtype) return 2;
  const d = dtype.toUpperCase().replace(/^TORCH\./, '');
  const alias: Record<string, string> = { FLOAT32: 'F32', FLOAT: 'F32', FLOAT16: 'F16', HALF: 'F16', BFLOAT16: 'BF16', FLOAT64: 'F64', INT8: 'I8', UINT8: 'U8' };
  return DTYPE_BYTES[alias[d] ?? d] ?? 2;
}

const MAX_LISTED_TENSORS = 2000;
/** A safetensors header larger than this is refused (the format's own readers cap it at 100 MB). */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;
const MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024;

interface TensorAcc {
  items: { name: string; dtype: string; shape: number[] }[];
  count: number;
  parameters: number;
  bytes: number;
  dtypes: ModelDescriptor['dtypes'];
}
function acc(): TensorAcc {
  return { items: [], count: 0, parameters: 0, bytes: 0, dtypes: {} };
}
function addTensor(a: TensorAcc, name: string, dtype: string, shape: number[], bytes?: number): void {
  const n = shape.reduce((p, d) => p * d, 1);
  const b = bytes ?? n * dtypeBytes(dtype);
  a.count++;
  a.parameters += n;
  a.bytes += b;
  const d = (a.dtypes[dtype] ??= { tensors: 0, parameters: 0, bytes: 0 });
  d.tensors++;
  d.parameters += n;
  d.bytes += b;
  if (a.items.length < MAX_LISTED_TENSORS) a.items.push({ name, dtype, shape });
}

/** Reads a safetensors header (8-byte length, then JSON) without touching the tensor data. */
export async function readSafetensorsHeader(path: string, size: number): Promise<Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>> {
  if (size < 8) throw new AnalysisError(`safetensors file is ${size} bytes, shorter than its 8-byte header length: truncated`, path);
  const n = Number((await readHead(path, 8)).readBigUInt64LE(0));
  if (n > MAX_SAFETENSORS_HEADER) throw new AnalysisError(`safetensors header claims ${n} bytes (the limit is ${MAX_SAFETENSORS_HEADER}): corrupt or hostile`, path);
  if (n + 8 > size) throw new AnalysisError(`safetensors header claims ${n} bytes but the file has ${size}: truncated`, path);
  const text = (await readHead(path, n, 8)).toString('utf8');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AnalysisError('safetensors header is not valid JSON: the file is not safetensors or is corrupt', path);
  }
  const out: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
      throw new AnalysisError(`safetensors tensor '${name}' has no dtype, shape or data_offsets`, path);
    }
    const end = Number(t.data_offsets[1]);
    if (!(end + 8 + n <= size)) throw new AnalysisError(`tensor '${name}' ends at byte ${end + 8 + n} but the file has ${size}: truncated or lying header`, path);
    out[name] = { dtype: t.dtype, shape: t.shape.map(Number), data_offsets: [Number(t.data_offsets[0]), end] };
  }
  return out;
}

export interface GgufInfo {
  version: number;
  architecture: string | null;
  name: string | null;
  quantization: string | null;
  contextLength: number | null;
  chatTemplate: string | null;
  tokenizerModel: string | null;
  vocabSize: number | null;
  layers: number | null;
  hidden: number | null;
  heads: number | null;
  kvHeads: number | null;
  tensors: { name: string; dtype: string; shape: number[] }[];
  specialTokens: Record<string, string>;
}

/** Reads a GGUF file's header and tensor table (local file, ranged reads; never the tensor data). */
export async function readGguf(path: string): Promise<GgufInfo> {
  const { metadata, tensorInfos } = await gguf(path, { allowLocalFile: true });
  const m = metadata as unknown as Record<string, unknown>;
  const arch = typeof m['general.architecture'] === 'string' ? (m['general.architecture']) : null;
  const num = (k: string): number | null => (m[k] === undefined ? null : Number(m[k]));
  const tokens = m['tokenizer.ggml.tokens'];
  const ft = m['general.file_type'];
  const tokenList = Array.isArray(tokens) ? (tokens as string[]) : [];
  const special: Record<string, string> = {};
  for (const k of ['bos', 'eos', 'unknown', 'padding']) {
    const id = num(`tokenizer.ggml.${k}_token_id`);
    if (id !== null && tokenList[id] !== undefined) special[k] = tokenList[id];
  }
  return {
    version: Number(m.version ?? 0),
    architecture: arch,
    name: typeof m['general.name'] === 'string' ? (m['general.name']) : null,
    quantization: typeof ft === 'number' || typeof ft === 'bigint' ? (GGMLFileQuantizationType[Number(ft)] ?? String(ft)) : null,
    contextLength: arch ? num(`${arch}.context_length`) : null,
    chatTemplate: typeof m['tokenizer.chat_template'] === 'string' ? (m['tokenizer.chat_template']) : null,
    tokenizerModel: typeof m['tokenizer.ggml.model'] === 'string' ? (m['tokenizer.ggml.model']) : null,
    vocabSize: tokenList.length || (arch ? num(`${arch}.vocab_size`) : null),
    layers: arch ? num(`${arch}.block_count`) : null,
    hidden: arch ? num(`${arch}.embedding_length`) : null,
    heads: arch ? num(`${arch}.attention.head_count`) : null,
    kvHeads: arch ? num(`${arch}.attention.head_count_kv`) : null,
    tensors: tensorInfos.map((t) => ({ name: t.name, dtype: GGMLQuantizationType[t.dtype] ?? String(t.dtype), shape: t.shape.map(Number) })),
    specialTokens: special,
  };
}

const ONNX_TYPES: Record<number, string> = { 1: 'FP32', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL', 10: 'FP16', 11: 'FP64', 12: 'UINT32', 13: 'UINT64', 16: 'BF16' };
const ONNX_TO_ST: Record<string, string> = { FP32: 'F32', FP16: 'F16', BF16: 'BF16', FP64: 'F64', INT64: 'I64', INT32: 'I32', INT16: 'I16', INT8: 'I8', UINT8: 'U8', BOOL: 'BOOL' };

export interface OnnxInfo {
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  ops: Record<string, number>;
  inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  outputs: { name: string; dtype: string; shape: (number | string)[] }[];
  externalData: { tensor: string; location: string }[];
  initializers: { name: string; dtype: string; shape: number[] }[];
}

/** Decodes an ONNX model's graph (onnx.proto); weights stored as external data are not read. */
export async function readOnnx(path: string): Promise<OnnxInfo> {
  const { size } = await stat(path);
  if (size > MAX_ONNX_BYTES) throw new AnalysisError(`ONNX file of ${size} bytes exceeds protobuf's 2 GiB limit`, path);
  const model = onnxProto.onnx.ModelProto.decode(await readFile(path));
  const graph = model.graph;
  if (!graph) throw new AnalysisError('ONNX model has no graph', path);
  const ops: Record<string, number> = {};
  const visit = (g: onnxProto.onnx.IGraphProto): void => {
    for (const n of g.node ?? []) {
      const key = n.domain ? `${n.domain}.${n.opType}` : String(n.opType);
      ops[key] = (ops[key] ?? 0) + 1;
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g);
        for (const sub of a.graphs ?? []) visit(sub);
      }
    }
  };
  visit(graph);
  const io = (v: onnxProto.onnx.IValueInfoProto) => {
    const tt = v.type?.tensorType;
    return {
      name: String(v.name ?? ''),
      dtype: ONNX_TYPES[tt?.elemType ?? 0] ?? String(tt?.elemType ?? 'unknown'),
      shape: (tt?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : -1)),
    };
  };
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const externalData: OnnxInfo['externalData'] = [];
  const initializers: OnnxInfo['initializers'] = [];
  const tensors = [...(graph.initializer ?? [])];
  for (const t of tensors) {
    initializers.push({ name: String(t.name ?? ''), dtype: ONNX_TYPES[t.dataType ?? 0] ?? 'unknown', shape: (t.dims ?? []).map(Number) });
    if (Number(t.dataLocation) === 1) {
      const loc = (t.externalData ?? []).find((e) => e.key === 'location')?.value ?? '';
      externalData.push({ tensor: String(t.name ?? ''), location: loc });
    }
  }
  return {
    irVersion: Number(model.irVersion ?? 0),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: Number(o.version ?? 0) })),
    ops,
    inputs: (graph.input ?? []).filter((v) => !initNames.has(v.name)).map(io),
    outputs: (graph.output ?? []).map(io),
    externalData,
    initializers,
  };
}

/** Lists the tensors of a PyTorch zip checkpoint from its data.pkl, never executing the pickle. */
export async function readTorchZip(path: string): Promise<{ name: string; dtype: string; shape: number[] }[]> {
  const zip = await openZip(path);
  try {
    const pkl = zip.members.find((m) => m.name.endsWith('/data.pkl') || m.name === 'data.pkl');
    if (!pkl) throw new AnalysisError('zip archive has no data.pkl: not a torch.save checkpoint', path);
    const walk = await walkPickle(bufferSource(await zip.head(pkl, pkl.size)));
    if (walk.problems.length) throw new AnalysisError(`data.pkl cannot be read: ${walk.problems[0]!.message}`, `${path}!${pkl.name}`);
    return pickledTensors(walk.root).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  } finally {
    zip.close();
  }
}

async function readLegacyTorch(path: string): Promise<{ name: string; dtype: string; shape: number[] }[]> {
  const { fileSource } = await import('./files.js');
  const src = await fileSource(path);
  try {
    // Legacy torch.save: magic number, protocol, sys info, then the object, then storage keys and raw data.
    let start = 0;
    let best: { name: string; dtype: string; shape: number[] }[] = [];
    for (let i = 0; i < 4 && start < src.size; i++) {
      const walk = await walkPickle(src, start);
      if (walk.problems.length) break;
      const found = pickledTensors(walk.root);
      if (found.length > best.length) best = found;
      start = walk.end;
    }
    return best.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  } finally {
    await src.close();
  }
}

const MODEL_FILE = /\.(safetensors|gguf|onnx|pt|pth|bin|ckpt|pkl)$/i;

/** Decides which files make up the model, and what format; refuses ambiguous folders. */
async function classify(path: string, files: ModelFile[], isDir: boolean): Promise<{ format: string; weights: ModelFile[]; weightsFormat: string | null }> {
  const byFormat = new Map<string, ModelFile[]>();
  for (const f of files) {
    if (!MODEL_FILE.test(f.rel) && isDir) continue;
    const fmt = await sniff(f);
    if (fmt === 'unknown') {
      if (!isDir) throw new AnalysisError(`the file's bytes match no model format (first bytes ${(await readHead(f.abs, 8)).toString('hex')}); it is not ${extFormat(f.rel) ?? 'a model'}`, f.rel);
      if (/\.(safetensors|gguf|onnx)$/i.test(f.rel)) throw new AnalysisError(`named like ${extFormat(f.rel)} but its bytes are not; the file lies about its format`, f.rel);
      continue;
    }
    const ext = extFormat(f.rel);
    if (ext && ext !== fmt && !(ext === 'pytorch' && fmt === 'pickle')) throw new AnalysisError(`named like ${ext} but its bytes are ${fmt}; the file lies about its format`, f.rel);
    byFormat.set(fmt, [...(byFormat.get(fmt) ?? []), f]);
  }
  if (!isDir) {
    const [[fmt, ws] = ['unknown', []]] = [...byFormat.entries()];
    return { format: fmt === 'pickle' ? 'pytorch' : fmt, weights: ws, weightsFormat: null };
  }
  const hasConfig = files.some((f) => f.rel === 'config.json');
  if (hasConfig) {
    for (const fmt of ['safetensors', 'pytorch', 'pickle', 'gguf', 'onnx']) {
      const ws = byFormat.get(fmt);
      if (ws?.length) return { format: 'huggingface', weights: ws, weightsFormat: fmt === 'pickle' ? 'pytorch' : fmt };
    }
    return { format: 'huggingface', weights: [], weightsFormat: null };
  }
  const formats = [...byFormat.keys()];
  if (formats.length > 1) {
    throw new AnalysisError(`the folder holds models in ${formats.length} formats (${formats.join(', ')}: ${[...byFormat.values()].flat().map((f) => f.rel).join(', ')}) and no config.json ties them together; register each file by itself`, path);
  }
  const only = formats[0];
  if (!only) throw new AnalysisError('the folder holds no model file (safetensors, GGUF, ONNX, PyTorch) and no config.json', path);
  const ws = byFormat.get(only)!;
  if ((only === 'gguf' || only === 'onnx') && ws.length > 1 && !ws.every((w) => /-\d{5}-of-\d{5}\.gguf$/.test(w.rel))) {
    throw new AnalysisError(`the folder holds ${ws.length} separate ${only} models (${ws.map((w) => w.rel).join(', ')}); register each file by itself`, path);
  }
  return { format: only === 'pickle' ? 'pytorch' : only, weights: ws, weightsFormat: only === 'pickle' ? 'pytorch' : only };
}

function extFormat(name: string): string | null {
  const m = /\.(safetensors|gguf|onnx|pt|pth|ckpt)$/i.exec(name);
  if (!m) return null;
  const e = m[1]!.toLowerCase();
  return e === 'pt' || e === 'pth' || e === 'ckpt' ? 'pytorch' : e;
}

async function sniff(f: ModelFile): Promise<string> {
  const head = await readHead(f.abs, 16);
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'GGUF') return 'gguf';
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'pytorch';
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors';
  if (looksLikePickle(head)) return 'pickle';
  if (head.length >= 2 && head[0] === 0x08 && /\.onnx$/i.test(f.rel)) return 'onnx';
  return 'unknown';
}

const LICENCES: [RegExp, string][] = [
  [/Apache License[\s,]*Version 2\.0/i, 'Apache-2.0'],
  [/^\s*MIT License/im, 'MIT'],
  [/Permission is hereby granted, free of charge/i, 'MIT'],
  [/BSD 3-Clause/i, 'BSD-3-Clause'],
  [/GNU GENERAL PUBLIC LICENSE[\s\S]{0,80}Version 3/i, 'GPL-3.0'],
  [/LLAMA 2 COMMUNITY LICENSE/i, 'llama2'],
  [/LLAMA 3(\.\d)? COMMUNITY LICENSE/i, 'llama3'],
  [/Creative Commons Attribution[- ]NonCommercial/i, 'CC-BY-NC-4.0'],
];

async function readLicence(files: ModelFile[]): Promise<ModelDescriptor['licence']> {
  const card = files.find((f) => /^readme\.md$/i.test(f.rel));
  if (card && card.size < 4 * 1024 * 1024) {
    const text = await readFile(card.abs, 'utf8');
    const m = /^---\n([\s\S]*?)\n---/.exec(text);
    const lic = m ? /^licen[cs]e:\s*["']?([^"'\n]+)/m.exec(m[1]!) : null;
    if (lic) return { id: lic[1]!.trim(), source: `${card.rel} (model card)` };
  }
  const file = files.find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f.rel));
  if (file && file.size < 4 * 1024 * 1024) {
    const text = await readFile(file.abs, 'utf8');
    for (const [re, id] of LICENCES) if (re.test(text)) return { id, source: file.rel };
    return { id: null, source: `${file.rel} (not recognised)` };
  }
  return null;
}

async function readJson(f: ModelFile | undefined): Promise<Record<string, unknown> | null> {
  if (!f || f.size > 64 * 1024 * 1024) return null;
  try {
    return JSON.parse(await readFile(f.abs, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new AnalysisError('is not valid JSON', f.rel);
  }
}

function numberOf(cfg: Record<string, unknown>, ...keys: string[]): number | null {
  for (const k of keys) if (typeof cfg[k] === 'number') return cfg[k];
  return null;
}

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** Analyses a model file or folder into a ModelDescriptor, from headers only for large weight files. */
export async function analyzeModel(path: string): Promise<ModelDescriptor> {
  const isDir = (await stat(path)).isDirectory();
  const listing = await listModelFiles(path);
  if (listing.escapingLinks.length) {
    const l = listing.escapingLinks[0]!;
    throw new AnalysisError(`symbolic link points outside the model folder (${l.target}); refusing to follow it`, l.rel);
  }
  const files = listing.files;
  const { format, weights, weightsFormat } = await classify(path, files, isDir);
  const warnings: string[] = [];
  const t = acc();
  let onnx: ModelDescriptor['onnx'] = null;
  let ggufInfo: GgufInfo | null = null;
  const wf = weightsFormat ?? format;
  for (const w of weights) {
    if (wf === 'safetensors') {
      const header = await readSafetensorsHeader(w.abs, w.size).catch((err: Error) => {
        throw new AnalysisError(err.message, w.rel);
      });
      for (const [name, info] of Object.entries(header)) addTensor(t, name, info.dtype, info.shape, info.data_offsets[1] - info.data_offsets[0]);
    } else if (wf === 'gguf') {
      ggufInfo = await readGguf(w.abs).catch((err: Error) => {
        throw new AnalysisError(`GGUF header cannot be read: ${err.message}`, w.rel);
      });
      const dataBytes = w.size;
      for (const x of ggufInfo.tensors) addTensor(t, x.name, x.dtype, x.shape, 0);
      t.bytes = dataBytes;
    } else if (wf === 'onnx') {
      const info = await readOnnx(w.abs).catch((err: Error) => {
        throw new AnalysisError(err instanceof AnalysisError ? err.message : `not a valid ONNX protobuf: ${err.message}`, w.rel);
      });
      onnx = { irVersion: info.irVersion, producer: info.producer, opsets: info.opsets, ops: info.ops, inputs: info.inputs, outputs: info.outputs, externalData: info.externalData };
      for (const i of info.initializers) addTensor(t, i.name, ONNX_TO_ST[i.dtype] ?? i.dtype, i.shape);
    } else if (wf === 'pytorch' || wf === 'pickle') {
      const head = await readHead(w.abs, 4);
      const list = head.readUInt32LE(0) === 0x04034b50 ? await readTorchZip(w.abs) : await readLegacyTorch(w.abs);
      if (list.length === 0) warnings.push(`${w.rel}: no tensors found in the checkpoint's pickle`);
      for (const x of list) addTensor(t, x.name, x.dtype, x.shape);
    }
  }

  let architecture: ModelDescriptor['architecture'] = null;
  let tokenizer: ModelDescriptor['tokenizer'] = null;
  const cfg = isDir ? await readJson(files.find((f) => f.rel === 'config.json')) : null;
  if (cfg) {
    const text = (cfg.text_config && typeof cfg.text_config === 'object' ? (cfg.text_config as Record<string, unknown>) : cfg);
    const hidden = numberOf(text, 'hidden_size', 'n_embd', 'd_model');
    const heads = numberOf(text, 'num_attention_heads', 'n_head', 'num_heads');
    architecture = {
      modelType: typeof cfg.model_type === 'string' ? cfg.model_type : null,
      architectures: Array.isArray(cfg.architectures) ? cfg.architectures.map(String) : [],
      layers: numberOf(text, 'num_hidden_layers', 'n_layer', 'num_layers'),
      hiddenSize: hidden,
      heads,
      kvHeads: numberOf(text, 'num_key_value_heads', 'n_head_kv', 'num_kv_heads') ?? heads,
      headDim: numberOf(text, 'head_dim') ?? (hidden && heads ? hidden / heads : null),
      intermediateSize: numberOf(text, 'intermediate_size', 'n_inner', 'ffn_dim'),
      vocabSize: numberOf(text, 'vocab_size'),
      maxPositions: numberOf(text, 'max_position_embeddings', 'n_positions', 'max_seq_len', 'seq_length'),
      dtype: typeof cfg.torch_dtype === 'string' ? cfg.torch_dtype : typeof cfg.dtype === 'string' ? cfg.dtype : null,
    };
  } else if (ggufInfo) {
    const g = ggufInfo;
    architecture = {
      modelType: g.architecture,
      architectures: g.architecture ? [g.architecture] : [],
      layers: g.layers,
      hiddenSize: g.hidden,
      heads: g.heads,
      kvHeads: g.kvHeads ?? g.heads,
      headDim: g.hidden && g.heads ? g.hidden / g.heads : null,
      intermediateSize: null,
      vocabSize: g.vocabSize,
      maxPositions: g.contextLength,
      dtype: 'F16',
    };
    tokenizer = { type: g.tokenizerModel, vocabSize: g.vocabSize, specialTokens: g.specialTokens, chatTemplate: g.chatTemplate };
  }
  if (isDir) {
    const tokJson = await readJson(files.find((f) => f.rel === 'tokenizer.json'));
    const tokCfg = await readJson(files.find((f) => f.rel === 'tokenizer_config.json'));
    if (tokJson || tokCfg) {
      const model = (tokJson?.model ?? {}) as { type?: unknown; vocab?: unknown };
      const vocab = model.vocab && typeof model.vocab === 'object' ? (Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length) : null;
      const added = Array.isArray(tokJson?.added_tokens) ? (tokJson.added_tokens as { id: number }[]) : [];
      const specialTokens: Record<string, string> = {};
      for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
        const v = tokenText(tokCfg?.[k]);
        if (v) specialTokens[k.replace('_token', '')] = v;
      }
      const newIds = added.filter((a) => vocab === null || a.id >= vocab).length;
      tokenizer = {
        type: typeof model.type === 'string' ? model.type : typeof tokCfg?.tokenizer_class === 'string' ? tokCfg.tokenizer_class : null,
        vocabSize: vocab === null ? null : vocab + newIds,
        specialTokens,
        chatTemplate: typeof tokCfg?.chat_template === 'string' ? tokCfg.chat_template : null,
      };
    }
  }
  if (architecture?.dtype == null && architecture && Object.keys(t.dtypes).length) {
    architecture.dtype = Object.entries(t.dtypes).sort((a, b) => b[1].parameters - a[1].parameters)[0]![0];
  }

  const role = (f: ModelFile): string =>
    weights.includes(f) ? 'weights' : f.rel === 'config.json' ? 'config' : /tokenizer|vocab|merges|special_tokens/.test(f.rel) ? 'tokenizer' : /^(readme|licen[cs]e)/i.test(f.rel) ? 'docs' : 'other';
  return {
    schemaVersion: DESCRIPTOR_VERSION,
    format,
    framework: format === 'gguf' || wf === 'gguf' ? 'llama.cpp' : format === 'onnx' ? 'onnx' : format === 'huggingface' ? 'transformers' : format === 'safetensors' || format === 'pytorch' ? 'pytorch' : format,
    weightsFormat: isDir ? (weightsFormat ?? null) : null,
    files: files.map((f) => ({ path: isDir ? f.rel : basename(f.rel), sizeBytes: f.size, role: role(f) })),
    parameterCount: t.count > 0 ? t.parameters : null,
    weightsBytes: t.bytes || weights.reduce((s, w) => s + w.size, 0),
    dtypes: t.dtypes,
    tensors: t.count > 0 ? { count: t.count, items: t.items, truncated: t.count > t.items.length } : null,
    onnx,
    gguf: ggufInfo
      ? { version: ggufInfo.version, architecture: ggufInfo.architecture, name: ggufInfo.name, quantization: ggufInfo.quantization, contextLength: ggufInfo.contextLength, tensorCount: ggufInfo.tensors.length }
      : null,
    architecture,
    tokenizer,
    licence: isDir ? await readLicence(files) : null,
    warnings,
  };
}


