import { readFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { escapesFolder, openZip } from './archive.js';
import { type ModelFile, fileSource, listModelFiles, readHead } from './files.js';
import { type ByteSource, type PickleGlobal, bufferSource, looksLikePickle, walkPickle } from './pickle.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One thing the scanner found: how bad, where, and why it matters. */
export interface Finding {
  severity: Severity;
  /** Stable kind: `pickle-global`, `pickle-unresolved`, `zip-traversal`, `onnx-external-escape`, … */
  kind: string;
  /** File (relative to the model), then member and byte offset where it applies: `model.pt!archive/data.pkl@120`. */
  location: string;
  message: string;
}

export interface ScanReport {
  scannerVersion: number;
  verdict: 'safe' | 'unsafe';
  findings: Finding[];
  filesScanned: number;
  bytesScanned: number;
  picklesScanned: number;
}

export const SCANNER_VERSION = 1;

/**
 * Globals a model pickle may import. Anything else is unsafe (fail closed): a block list misses
 * what it did not think of, an allow list does not.
 */
const ALLOWED_GLOBALS = new Set<string>([
  'collections.OrderedDict',
  'collections.defaultdict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._utils._rebuild_qtensor',
  'torch._tensor._rebuild_from_type_v2',
  'torch.Size',
  'torch.device',
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'torch.storage._load_from_bytes',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode',
  'builtins.set',
  'builtins.frozenset',
  'builtins.slice',
  'builtins.complex',
  'builtins.bytearray',
  '__builtin__.set',
  '__builtin__.frozenset',
  'argparse.Namespace',
]);
const TORCH_STORAGES = /^(Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool|ComplexFloat|ComplexDouble|QUInt8|QInt8|QInt32|QUInt4x2|Untyped)Storage$/;
const TORCH_DTYPES = /^(float(16|32|64)?|double|half|bfloat16|u?int(8|16|32|64)|long|short|bool|complex(64|128)|cfloat|cdouble|qint8|quint8|qint32)$/;

/** Modules whose mere import in a pickle means code execution; reported as critical with why. */
const DANGEROUS: [RegExp, string][] = [
  [/^(os|posix|nt|subprocess|pty|commands|popen2)$/, 'runs operating-system commands'],
  [/^(builtins|__builtin__)\.(eval|exec|execfile|compile|__import__|open|input|breakpoint|globals|locals|vars)$/, 'evaluates code or opens files'],
  [/^(builtins|__builtin__)\.(getattr|setattr|delattr)$/, 'reaches any attribute of any object, so a chain of getattr calls can reach os.system'],
  [/^runpy$/, 'runs a Python module or file (__reduce__ to runpy)'],
  [/^(importlib|imp|pkgutil|zipimport)$/, 'imports arbitrary modules'],
  [/^(pickle|_pickle|cPickle|dill|marshal|shelve|joblib)$/, 'loads a nested pickle or code object'],
  [/^(socket|http|urllib|urllib2|requests|ftplib|smtplib|telnetlib|webbrowser|asyncio)$/, 'opens network connections'],
  [/^(shutil|tempfile|glob|pathlib|io|codecs|fileinput)$/, 'reads or writes files'],
  [/^(sys|ctypes|cffi|types|code|codeop|inspect|gc|operator|functools|signal|threading|multiprocessing)$/, 'reaches interpreter internals or calls functions indirectly'],
];

function globalVerdict(g: PickleGlobal): { severity: Severity; why: string } | undefined {
  const full = `${g.module}.${g.name}`;
  if (ALLOWED_GLOBALS.has(full)) return undefined;
  if (g.module === 'torch' && (TORCH_STORAGES.test(g.name) || TORCH_DTYPES.test(g.name))) return undefined;
  if (g.module === 'torch.storage' && g.name === 'UntypedStorage') return undefined;
  for (const [pattern, why] of DANGEROUS) {
    if (pattern.test(full) || pattern.test(g.module) || pattern.test(g.module.split('.')[0]!)) return { severity: 'critical', why };
  }
  return { severity: 'high', why: 'is not on the allow-list of globals a model may import, so loading it could run code' };
}

interface Ctx {
  findings: Finding[];
  root: string;
  bytes: number;
  pickles: number;
  files: number;
}

const MAX_MEMBER_PICKLE = 512 * 1024 * 1024;
const MAX_NESTING = 3;
const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

/** Scans a model file or folder: every pickle opcode by opcode, archives, ONNX, Keras and GGUF metadata. */
export async function scanModel(path: string): Promise<ScanReport> {
  const ctx: Ctx = { findings: [], root: path, bytes: 0, pickles: 0, files: 0 };
  const listing = await listModelFiles(path);
  for (const link of listing.escapingLinks) {
    ctx.findings.push({ severity: 'critical', kind: 'symlink-escape', location: link.rel, message: `symbolic link points outside the model folder (${link.target}); it is not followed` });
  }
  for (const file of listing.files) {
    ctx.files++;
    try {
      await scanFile(ctx, file, dirname(file.abs));
    } catch (err) {
      ctx.findings.push({ severity: 'high', kind: 'unreadable', location: file.rel, message: `could not be scanned: ${(err as Error).message}` });
    }
  }
  const verdict = ctx.findings.some((f) => f.severity === 'critical' || f.severity === 'high') ? 'unsafe' : 'safe';
  return { scannerVersion: SCANNER_VERSION, verdict, findings: ctx.findings, filesScanned: ctx.files, bytesScanned: ctx.bytes, picklesScanned: ctx.pickles };
}

async function scanFile(ctx: Ctx, file: ModelFile, folder: string): Promise<void> {
  const head = await readHead(file.abs, 64);
  const lower = file.rel.toLowerCase();
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) return scanZip(ctx, file.abs, file.rel, 0);
  if (head.length >= 6 && head.toString('latin1', 0, 6) === '\x93NUMPY') return scanNpy(ctx, file);
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'GGUF') return scanGguf(ctx, file);
  if (looksLikePickle(head) || /\.(pkl|pickle|joblib|pt|pth|ckpt|bin)$/.test(lower)) {
    if (!looksLikePickle(head)) {
      if (/\.(pkl|pickle|joblib)$/.test(lower)) {
        ctx.findings.push({ severity: 'high', kind: 'unscannable', location: file.rel, message: 'named as a pickle but is not one the scanner can read (compressed or corrupt); it cannot be shown safe' });
      }
      return;
    }
    const src = await fileSource(file.abs);
    try {
      await scanPickleStream(ctx, src, file.rel, true);
    } finally {
      await src.close();
    }
    return;
  }
  if (lower.endsWith('.onnx')) return scanOnnx(ctx, file, folder);
  if (lower.endsWith('.safetensors')) return scanSafetensors(ctx, file);
  if (/(^|\/)(config|model)\.json$/.test(lower) && file.size < 16 * 1024 * 1024) return scanKerasConfig(ctx, await readFile(file.abs, 'utf8'), file.rel);
  if (/(^|\/)tokenizer_config\.json$/.test(lower) && file.size < 16 * 1024 * 1024) {
    const cfg = JSON.parse(await readFile(file.abs, 'utf8')) as { chat_template?: unknown };
    if (typeof cfg.chat_template === 'string') checkTemplate(ctx, cfg.chat_template, `${file.rel}#chat_template`);
  }
}

/** Walks every pickle in a stream (legacy torch.save writes several back to back). */
async function scanPickleStream(ctx: Ctx, src: ByteSource, location: string, several: boolean): Promise<void> {
  let start = 0;
  for (let n = 0; n < 8 && start < src.size; n++) {
    const walk = await walkPickle(src, start);
    ctx.pickles++;
    ctx.bytes += walk.end - start;
    for (const g of walk.globals) {
      const v = globalVerdict(g);
      if (v) ctx.findings.push({ severity: v.severity, kind: 'pickle-global', location: `${location}@${g.offset}`, message: `${g.opcode} imports ${g.module}.${g.name}, which ${v.why}` });
    }
    for (const p of walk.problems) {
      ctx.findings.push({ severity: 'high', kind: 'pickle-unresolved', location: `${location}@${p.offset}`, message: `${p.message}; the pickle cannot be shown safe` });
    }
    if (walk.problems.length > 0 || !several) return;
    start = walk.end;
    if (start >= src.size) return;
    const next = await src.read(start, 64);
    if (!looksLikePickle(next)) return;
  }
}

async function scanZip(ctx: Ctx, abs: string, location: string, depth: number): Promise<void> {
  let zip;
  try {
    zip = await openZip(abs);
  } catch (err) {
    ctx.findings.push({ severity: 'high', kind: 'corrupt-archive', location, message: `zip archive cannot be read (${(err as Error).message}): truncated or corrupt` });
    return;
  }
  try {
    for (const m of zip.members) {
      const where = `${location}!${m.name}`;
      if (escapesFolder(m.name)) {
        ctx.findings.push({ severity: 'critical', kind: 'zip-traversal', location: where, message: 'member path leaves the extraction folder (absolute or with ..), a zip-slip attack' });
      }
      if (m.name.endsWith('/')) continue;
      if (/(^|\/)(config|model)\.json$/.test(m.name) && m.size < 16 * 1024 * 1024) {
        scanKerasConfig(ctx, (await zip.head(m, m.size)).toString('utf8'), where);
        continue;
      }
      const head = await zip.head(m, 64);
      const isPickle = looksLikePickle(head) || m.name.endsWith('.pkl');
      const isZip = head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
      if (!isPickle && !isZip) continue;
      if (m.size > MAX_MEMBER_PICKLE) {
        ctx.findings.push({ severity: 'high', kind: 'oversized', location: where, message: `a ${m.size}-byte pickle or archive member is too large to scan; it cannot be shown safe` });
        continue;
      }
      const body = await zip.head(m, m.size);
      if (isZip) {
        if (depth >= MAX_NESTING) {
          ctx.findings.push({ severity: 'high', kind: 'nesting', location: where, message: 'archives nested too deep to scan' });
          continue;
        }
        const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
        const { tmpdir } = await import('node:os');
        const dir = await mkdtemp(`${tmpdir()}${sep}catapult-scan-`);
        try {
          await writeFile(`${dir}${sep}inner.zip`, body);
          await scanZip(ctx, `${dir}${sep}inner.zip`, where, depth + 1);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        continue;
      }
      await scanPickleStream(ctx, bufferSource(body), where, false);
    }
  } finally {
    zip.close();
  }
}

async function scanNpy(ctx: Ctx, file: ModelFile): Promise<void> {
  const head = await readHead(file.abs, 65_536);
  const major = head[6]!;
  const len = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = head.toString('latin1', start, start + len);
  if (/'descr':\s*'\|O'/.test(header) || /'descr':\s*\[/.test(header)) {
    const src = await fileSource(file.abs);
    try {
      ctx.findings.push({ severity: 'medium', kind: 'npy-object', location: file.rel, message: 'numpy object array: loading it needs allow_pickle=True; its pickle was scanned' });
      await scanPickleStream(ctx, { size: src.size - start - len, read: (o, l) => src.read(o + start + len, l) }, `${file.rel}@${start + len}`, false);
    } finally {
      await src.close();
    }
  }
}

async function scanSafetensors(ctx: Ctx, file: ModelFile): Promise<void> {
  if (file.size < 8) {
    ctx.findings.push({ severity: 'high', kind: 'truncated', location: file.rel, message: 'safetensors file is shorter than its 8-byte header length' });
    return;
  }
  const n = Number((await readHead(file.abs, 8)).readBigUInt64LE(0));
  if (n > MAX_SAFETENSORS_HEADER) {
    ctx.findings.push({ severity: 'high', kind: 'oversized-header', location: file.rel, message: `header claims ${n} bytes (limit ${MAX_SAFETENSORS_HEADER}); refusing to read it` });
  } else if (n + 8 > file.size) {
    ctx.findings.push({ severity: 'high', kind: 'truncated', location: file.rel, message: `header claims ${n} bytes but the file has only ${file.size}` });
  }
}

async function scanGguf(ctx: Ctx, file: ModelFile): Promise<void> {
  const { readGguf } = await import('./analyze.js');
  try {
    const g = await readGguf(file.abs);
    if (g.chatTemplate) checkTemplate(ctx, g.chatTemplate, `${file.rel}#tokenizer.chat_template`);
  } catch (err) {
    ctx.findings.push({ severity: 'high', kind: 'corrupt-header', location: file.rel, message: `GGUF header cannot be read: ${(err as Error).message}` });
  }
}

/** Jinja chat templates run in the serving process; one that reaches Python internals is an attack (SSTI). */
function checkTemplate(ctx: Ctx, template: string, location: string): void {
  const m = /__(class|mro|subclasses|globals|builtins|import|init|base|bases|getattribute|dict|code|func_globals)__|\bos\.(system|popen)|\bpopen\b|\beval\s*\(|\bexec\s*\(/.exec(template);
  if (m) {
    ctx.findings.push({ severity: 'critical', kind: 'template-injection', location, message: `chat template reaches Python objects ('${m[0]}'), a template-injection attack on the server that renders it` });
  }
}

function scanKerasConfig(ctx: Ctx, text: string, location: string): void {
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch {
    return;
  }
  const visit = (v: unknown, path: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${path}[${i}]`));
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (o.class_name === 'Lambda') {
      ctx.findings.push({ severity: 'critical', kind: 'keras-lambda', location: `${location}#${path}`, message: 'Keras Lambda layer: its function is serialised Python bytecode that runs when the model loads' });
    }
    for (const [k, x] of Object.entries(o)) visit(x, path ? `${path}.${k}` : k);
  };
  visit(cfg, '');
}

async function scanOnnx(ctx: Ctx, file: ModelFile, folder: string): Promise<void> {
  const { readOnnx } = await import('./analyze.js');
  let info;
  try {
    info = await readOnnx(file.abs);
  } catch (err) {
    ctx.findings.push({ severity: 'high', kind: 'corrupt-header', location: file.rel, message: `ONNX protobuf cannot be decoded: ${(err as Error).message}` });
    return;
  }
  for (const ext of info.externalData) {
    const target = resolve(folder, ext.location);
    if (escapesFolder(ext.location) || (target !== folder && !target.startsWith(folder + sep))) {
      ctx.findings.push({ severity: 'critical', kind: 'onnx-external-escape', location: `${file.rel}#${ext.tensor}`, message: `external data path '${ext.location}' leaves the model folder; loading would read ${target}` });
    }
  }
}
