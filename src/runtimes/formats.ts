import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

/**
 * Model formats Catapult recognises. A directory in Hugging Face layout is `huggingface` (its weights
 * format is reported separately); a Triton model repository is `triton-repository`.
 */
export const MODEL_FORMATS = [
  'onnx',
  'gguf',
  'safetensors',
  'pytorch',
  'torchscript',
  'tensorflow-savedmodel',
  'huggingface',
  'triton-repository',
  'unknown',
] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export interface DetectedFormat {
  format: ModelFormat;
  /** The file that decided it: the path given, or the file inside the directory given. */
  path: string;
  /** What was seen, for people: "GGUF magic, version 3", "config.json with 2 safetensors shards". */
  evidence: string;
  /** For `huggingface` directories: the format of the weight files. */
  weights?: ModelFormat;
}

const HEAD_BYTES = 64;

/**
 * Works out a model's format from its bytes first (magic numbers, headers, archive contents) and its
 * name second, so a mislabelled file is reported as what it is.
 */
export async function detectModelFormat(path: string): Promise<DetectedFormat> {
  const info = await stat(path);
  if (info.isDirectory()) return detectDirectory(path);
  const fh = await open(path, 'r');
  try {
    return await detectFile(fh, path, info.size);
  } finally {
    await fh.close();
  }
}

async function detectFile(fh: FileHandle, path: string, size: number): Promise<DetectedFormat> {
  const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
  await fh.read(head, 0, head.length, 0);
  const ext = extname(path).toLowerCase();

  if (head.length >= 8 && head.toString('latin1', 0, 4) === 'GGUF') {
    return { format: 'gguf', path, evidence: `GGUF magic, version ${head.readUInt32LE(4)}` };
  }
  if (head.length >= 9) {
    const headerLength = head.readBigUInt64LE(0);
    if (headerLength > 1n && headerLength < 100_000_000n && Number(headerLength) + 8 <= size && head[8] === 0x7b) {
      return { format: 'safetensors', path, evidence: `safetensors JSON header of ${headerLength} bytes` };
    }
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) {
    const names = await zipEntryNames(fh, size);
    if (names.some((n) => /(^|\/)code\//.test(n) || n.endsWith('/constants.pkl') || n === 'constants.pkl')) {
      return { format: 'torchscript', path, evidence: 'zip archive with TorchScript code/ and constants.pkl' };
    }
    if (names.some((n) => n.endsWith('data.pkl'))) {
      return { format: 'pytorch', path, evidence: 'zip archive with data.pkl (torch.save)' };
    }
    return { format: 'unknown', path, evidence: `zip archive without PyTorch entries (${names.length} entries)` };
  }
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) {
    return { format: 'pytorch', path, evidence: `Python pickle, protocol ${head[1]} (legacy torch.save)` };
  }
  if (looksLikeOnnx(head) && (ext === '.onnx' || ext === '' || ext === '.ort' || ext === '.pb')) {
    return { format: 'onnx', path, evidence: `ONNX protobuf, IR version ${head[1]}` };
  }
  if (ext === '.onnx') return { format: 'unknown', path, evidence: 'named .onnx but does not start like an ONNX protobuf' };
  return { format: 'unknown', path, evidence: `no known header (first bytes ${head.subarray(0, 8).toString('hex')})` };
}

/** ModelProto starts with field 1 (ir_version, varint); every IR version so far is below 128. */
function looksLikeOnnx(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x08 && head[1]! >= 1 && head[1]! < 0x80 && isProtoTag(head[2]!);
}

function isProtoTag(b: number): boolean {
  const field = b >>> 3;
  const wire = b & 7;
  return field >= 1 && field <= 20 && (wire === 0 || wire === 2);
}

async function detectDirectory(dir: string): Promise<DetectedFormat> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);

  if (files.includes('saved_model.pb') || files.includes('saved_model.pbtxt')) {
    return { format: 'tensorflow-savedmodel', path: dir, evidence: 'directory with saved_model.pb' };
  }
  if (files.includes('config.json')) {
    const safetensors = files.filter((f) => f.endsWith('.safetensors'));
    const torch = files.filter((f) => /^pytorch_model.*\.bin$/.test(f));
    const gguf = files.filter((f) => f.endsWith('.gguf'));
    const onnx = files.filter((f) => f.endsWith('.onnx'));
    const [weights, count] =
      safetensors.length > 0
        ? (['safetensors', safetensors.length] as const)
        : torch.length > 0
          ? (['pytorch', torch.length] as const)
          : gguf.length > 0
            ? (['gguf', gguf.length] as const)
            : onnx.length > 0
              ? (['onnx', onnx.length] as const)
              : (['unknown', 0] as const);
    return {
      format: 'huggingface',
      path: dir,
      evidence: count > 0 ? `config.json with ${count} ${weights} weight file(s)` : 'config.json without weight files',
      weights,
    };
  }
  // Triton: <repo>/<model>/config.pbtxt and numeric version directories.
  for (const d of dirs) {
    const sub = await readdir(join(dir, d)).catch(() => [] as string[]);
    if (sub.includes('config.pbtxt') || sub.some((s) => /^\d+$/.test(s))) {
      return { format: 'triton-repository', path: dir, evidence: `model directory ${d}/ with config.pbtxt or version directories` };
    }
  }
  // A directory holding one model file is that file's format (e.g. models/iris/ with model.onnx).
  const candidates: DetectedFormat[] = [];
  for (const f of files) {
    if (!/\.(onnx|gguf|safetensors|pt|pth|bin|ckpt)$/i.test(f)) continue;
    const found = await detectModelFormat(join(dir, f));
    if (found.format !== 'unknown') candidates.push(found);
  }
  if (candidates.length === 1) {
    const only = candidates[0]!;
    return { ...only, evidence: `${only.evidence} (${basename(only.path)}, the only model file in the directory)` };
  }
  if (candidates.length > 1) {
    return {
      format: 'unknown',
      path: dir,
      evidence: `several model files: ${candidates.map((c) => `${basename(c.path)} (${c.format})`).join(', ')}; name one`,
    };
  }
  return { format: 'unknown', path: dir, evidence: 'directory without a recognised model layout' };
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const MAX_CENTRAL_DIRECTORY = 32 * 1024 * 1024;

/** Names in a zip archive's central directory, read from the end of the file (zip64 included). */
async function zipEntryNames(fh: FileHandle, size: number): Promise<string[]> {
  const tailSize = Math.min(size, 65_557);
  const tail = Buffer.alloc(tailSize);
  await fh.read(tail, 0, tailSize, size - tailSize);
  let eocd = -1;
  for (let i = tailSize - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return [];
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff && eocd >= 20 && tail.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIGNATURE) {
    const z64 = Number(tail.readBigUInt64LE(eocd - 20 + 8));
    const rec = Buffer.alloc(56);
    await fh.read(rec, 0, 56, z64);
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY || cdOffset + cdSize > size) return [];
  const cd = Buffer.alloc(cdSize);
  await fh.read(cd, 0, cdSize, cdOffset);
  const names: string[] = [];
  let p = 0;
  while (p + 46 <= cd.length && cd.readUInt32LE(p) === CENTRAL_SIGNATURE) {
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    names.push(cd.toString('utf8', p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return names;
}
