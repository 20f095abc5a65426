/**
 * The input side of ASR evaluations: utterances (audio bytes and a reference transcript) read from an
 * ASR manifest (JSONL, as NeMo and most ASR toolkits write it) or from a Hugging Face `datasets`
 * `.arrow` file, and the audio durations that RTFx needs.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type * as Arrow from 'apache-arrow';
import type { DataType, Table, Vector } from 'apache-arrow';

/** apache-arrow, loaded on first use: it is large, and only `.arrow` datasets need it. */
let arrow: typeof Arrow;
async function loadArrow(): Promise<void> {
  arrow ??= await import('apache-arrow');
}

/** One utterance to transcribe and score. */
export interface AudioItem {
  id: string;
  audio: Buffer;
  /** Name sent with the upload (servers use its extension to pick a decoder). */
  filename: string;
  contentType: string;
  reference: string;
  /** Seconds of audio; null when neither the dataset nor the audio header says (RTFx is then unknown). */
  durationS: number | null;
}

/** Where a dataset problem is: the file, and the manifest line (1-based) or the Arrow row (0-based) and field. */
export interface DatasetLocation {
  file: string;
  line?: number;
  row?: number;
  field?: string;
}

/**
 * A dataset that cannot be used as given. The message starts with the location (`FILE line N:` or
 * `FILE row N, column C:`) and says what to do; `where` carries the same location for callers.
 */
export class DatasetError extends Error {
  readonly code = 'CATAPULT_DATASET_INVALID';
  constructor(
    message: string,
    readonly where: { file: string; line?: number; row?: number; field?: string },
  ) {
    super(`${describeLocation(where)}: ${message}`);
    this.name = 'DatasetError';
  }
}

function describeLocation(where: DatasetLocation): string {
  let at = where.file;
  if (where.line !== undefined) at += ` line ${where.line}`;
  if (where.row !== undefined) at += ` row ${where.row}`;
  if (where.field !== undefined) at += `, ${where.line !== undefined ? 'field' : 'column'} "${where.field}"`;
  return at;
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  return limit;
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

async function readDatasetFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw new DatasetError(`${what} not found (looked for ${resolve(file)}); check the path`, { file });
    if (code === 'EISDIR') throw new DatasetError(`${what} is a folder, not a file`, { file });
    throw new DatasetError(`${what} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { file });
  }
}

/** Base name without its extension: `clips/utt_01.wav` → `utt_01`. */
function stem(path: string): string {
  const base = basename(path);
  const ext = extname(base);
  return ext.length > 0 && ext.length < base.length ? base.slice(0, -ext.length) : base;
}

// ---------------------------------------------------------------------------------------------------
// ASR manifest (JSONL)

const AUDIO_KEYS = ['audio', 'audio_filepath'] as const;
const TEXT_KEYS = ['text', 'sentence', 'transcript'] as const;

/**
 * Reads an ASR manifest: one JSON object per line with `audio` (or NeMo's `audio_filepath`), a path
 * relative to `audioRoot` (default: the manifest's folder) or absolute; `text` (or `sentence`,
 * `transcript`); optional `id` (default: the audio file's base name without extension, or its path as
 * written when two base names clash); optional `duration` in seconds (wins over the audio header).
 * Blank lines and lines starting with `#` are skipped. `limit` keeps the first N utterances.
 */
export async function loadAsrManifest(path: string, opts: { audioRoot?: string; limit?: number } = {}): Promise<AudioItem[]> {
  const limit = checkLimit(opts.limit);
  const file = path;
  const text = (await readDatasetFile(file, 'manifest')).toString('utf8');
  const root = resolve(opts.audioRoot ?? dirname(resolve(file)));
  const items: AudioItem[] = [];
  const idLines = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length && items.length < limit; index++) {
    const line = index + 1;
    const raw = lines[index]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw);
    } catch (err) {
      throw new DatasetError(
        `not valid JSON (${err instanceof Error ? err.message : String(err)}); each line must be one JSON object such as {"audio": "clips/a.wav", "text": "hello world"}`,
        { file, line },
      );
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new DatasetError('expected a JSON object such as {"audio": "clips/a.wav", "text": "hello world"}', { file, line });
    }
    const obj = entry as Record<string, unknown>;

    const audioKey = AUDIO_KEYS.find((k) => obj[k] !== undefined);
    const audioPath = audioKey === undefined ? undefined : obj[audioKey];
    if (audioKey === undefined) {
      throw new DatasetError(`has no audio path; add "audio" (or "audio_filepath") with the audio file's path, relative to ${root} or absolute`, { file, line, field: 'audio' });
    }
    if (typeof audioPath !== 'string' || audioPath.trim() === '') {
      throw new DatasetError(`must be a non-empty string: the audio file's path, relative to ${root} or absolute`, { file, line, field: audioKey });
    }

    const textKey = TEXT_KEYS.find((k) => obj[k] !== undefined);
    if (textKey === undefined) {
      throw new DatasetError('has no reference transcript; add "text" (or "sentence", "transcript") with what is said in the audio', { file, line, field: 'text' });
    }
    const reference = obj[textKey];
    if (typeof reference !== 'string') {
      throw new DatasetError(`must be a string (the reference transcript), got ${JSON.stringify(reference)}`, { file, line, field: textKey });
    }

    let durationS: number | null = null;
    if (obj.duration !== undefined && obj.duration !== null) {
      if (typeof obj.duration !== 'number' || !Number.isFinite(obj.duration) || obj.duration < 0) {
        throw new DatasetError(`must be a number of seconds, 0 or more; got ${JSON.stringify(obj.duration)}. Remove it to read the duration from the audio header`, { file, line, field: 'duration' });
      }
      durationS = obj.duration;
    }

    let id: string;
    if (obj.id !== undefined && obj.id !== null) {
      if ((typeof obj.id !== 'string' && typeof obj.id !== 'number') || String(obj.id) === '') {
        throw new DatasetError(`must be a non-empty string or a number, got ${JSON.stringify(obj.id)}`, { file, line, field: 'id' });
      }
      id = String(obj.id);
    } else {
      // Base names read best in reports; a corpus laid out as speaker/chapter/001.wav repeats them,
      // and then the path as written is the unique name.
      id = stem(audioPath) || String(line);
      if (idLines.has(id)) id = audioPath;
    }
    const earlier = idLines.get(id);
    if (earlier !== undefined) {
      throw new DatasetError(`id "${id}" is already used on line ${earlier}; give each utterance its own "id"`, { file, line, field: 'id' });
    }
    idLines.set(id, line);

    const audioFile = isAbsolute(audioPath) ? audioPath : resolve(root, audioPath);
    let audio: Buffer;
    try {
      audio = await readFile(audioFile);
    } catch (err) {
      const code = errnoCode(err);
      const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${err instanceof Error ? err.message : String(err)})`;
      const hint = isAbsolute(audioPath) ? 'fix the path' : `relative paths are resolved against ${root}; fix the path or set audioRoot`;
      throw new DatasetError(`audio file ${audioFile} ${why}; ${hint}`, { file, line, field: audioKey });
    }
    const filename = basename(audioFile);
    items.push({
      id,
      audio,
      filename,
      contentType: audioContentType(filename),
      reference,
      durationS: durationS ?? audioDurationSeconds(audio, filename),
    });
  }
  if (items.length === 0) {
    throw new DatasetError('has no utterances; add one JSON object per line such as {"audio": "clips/a.wav", "text": "hello world"}', { file });
  }
  return items;
}

// ---------------------------------------------------------------------------------------------------
// Hugging Face datasets .arrow

const DEFAULT_AUDIO_COLUMN = 'audio';
const DEFAULT_TEXT_COLUMN = 'sentence';
const TEXT_FALLBACKS = ['sentence', 'text', 'transcription', 'transcript', 'normalized_text'];
// Not `client_id`: in Common Voice it names the speaker, so it repeats across utterances.
const ID_COLUMNS = ['id', 'utterance_id', 'utt_id', 'segment_id', 'audio_id', 'file', 'path'];

/**
 * Reads a Hugging Face `datasets` Arrow file (the cache / `save_to_disk` layout: Arrow IPC stream, or
 * file format), or a `save_to_disk` folder (its `state.json` data files, else every `*.arrow` in name
 * order). The audio column (default `audio`; else the column the `huggingface` schema metadata calls
 * `Audio`) is a struct `{bytes, path}` as the datasets `Audio` feature stores it, a plain binary
 * column, or a string column of paths; a null `bytes` falls back to `path`, resolved against the
 * Arrow file's folder. The text column defaults to `sentence` (Common Voice), then `text`,
 * `transcription`, `transcript`, `normalized_text`; a column named explicitly other than the default
 * must exist. Rows are numbered from 0, as `dataset[i]` numbers them.
 */
export async function loadHfArrow(path: string, opts: { audioColumn?: string; textColumn?: string; limit?: number } = {}): Promise<AudioItem[]> {
  const limit = checkLimit(opts.limit);
  await loadArrow();
  const files = await arrowFiles(path);
  const items: AudioItem[] = [];
  let rowBase = 0;
  const ids = new Set<string>();
  for (const file of files) {
    if (items.length >= limit) break;
    const table = await readArrowTable(file);
    const part = await itemsFromTable(table, file, opts, limit - items.length, rowBase);
    for (const item of part) {
      // Ids chosen from a column are unique within a file; across the files of one folder they may not be.
      if (ids.has(item.id)) item.id = `${basename(file)}#${item.id}`;
      ids.add(item.id);
      items.push(item);
    }
    rowBase += table.numRows;
  }
  if (items.length === 0) throw new DatasetError('has no rows', { file: path });
  return items;
}

async function arrowFiles(path: string): Promise<string[]> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    // A missing path is reported by the read below, with the usual wording.
  }
  if (!isDir) return [path];
  try {
    const state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as { _data_files?: { filename?: unknown }[] };
    const named = (state._data_files ?? []).map((f) => f.filename).filter((f): f is string => typeof f === 'string');
    if (named.length > 0) return named.map((f) => join(path, f));
  } catch {
    // No usable state.json: fall back to the .arrow files in the folder.
  }
  const found = (await readdir(path)).filter((f) => f.endsWith('.arrow')).sort();
  if (found.length === 0) throw new DatasetError('is a folder without .arrow files; point at a datasets .arrow file or a save_to_disk folder', { file: path });
  return found.map((f) => join(path, f));
}

async function readArrowTable(file: string): Promise<Table> {
  const buf = await readDatasetFile(file, 'Arrow file');
  let table: Table;
  try {
    table = arrow.tableFromIPC(buf);
  } catch (err) {
    throw new DatasetError(`is not an Arrow IPC stream or file (${err instanceof Error ? err.message : String(err)}); give a Hugging Face datasets .arrow file`, { file });
  }
  // An empty or foreign file can parse as a table without a schema.
  if (table.schema.fields.length === 0) throw new DatasetError('is not an Arrow IPC stream or file (no schema found); give a Hugging Face datasets .arrow file', { file });
  return table;
}

/** Column names the `huggingface` schema metadata gives the datasets `Audio` feature. */
function hfAudioFeatures(table: Table): string[] {
  const meta = table.schema.metadata.get('huggingface');
  if (meta === undefined) return [];
  try {
    const parsed = JSON.parse(meta) as { info?: { features?: Record<string, { _type?: unknown }> } };
    return Object.entries(parsed.info?.features ?? {})
      .filter(([, f]) => f._type === 'Audio')
      .map(([name]) => name);
  } catch {
    return [];
  }
}

/** `Struct<{bytes:Binary, path:Utf8}>`: every concrete Arrow type prints itself, the base class just does not say so. */
function typeName(t: DataType): string {
  return (t as DataType & { toString(): string }).toString();
}

function describeColumns(table: Table): string {
  return table.schema.fields.map((f) => `${f.name} (${typeName(f.type as DataType)})`).join(', ');
}

type AudioReader = (row: number) => { bytes: Uint8Array | null; path: string | null };

function isBinaryType(t: DataType): boolean {
  return arrow.DataType.isBinary(t) || arrow.DataType.isLargeBinary(t) || arrow.DataType.isBinaryView(t) || arrow.DataType.isFixedSizeBinary(t);
}

function isStringType(t: DataType): boolean {
  return arrow.DataType.isUtf8(t) || arrow.DataType.isLargeUtf8(t) || arrow.DataType.isUtf8View(t) || (arrow.DataType.isDictionary(t) && isStringType(t.dictionary as DataType));
}

function bytesAt(v: Vector | null, row: number): Uint8Array | null {
  const x: unknown = v?.get(row);
  return x instanceof Uint8Array && x.byteLength > 0 ? x : null;
}

function stringAt(v: Vector | null, row: number): string | null {
  const x: unknown = v?.get(row);
  return typeof x === 'string' && x !== '' ? x : null;
}

function audioReader(table: Table, file: string, column: string): AudioReader {
  const field = table.schema.fields.find((f) => f.name === column)!;
  const vector = table.getChild(column)!;
  const type = field.type as DataType;
  if (arrow.DataType.isStruct(type)) {
    const names = type.children.map((c) => c.name);
    if (!names.includes('bytes') && !names.includes('path')) {
      throw new DatasetError(
        `is a struct with fields ${names.join(', ') || '(none)'}; expected the datasets Audio layout {bytes, path}. Cast the column with datasets' Audio() feature before saving`,
        { file, field: column },
      );
    }
    const bytes = names.includes('bytes') ? vector.getChild('bytes') : null;
    const path = names.includes('path') ? vector.getChild('path') : null;
    return (row) => (vector.isValid(row) ? { bytes: bytesAt(bytes, row), path: stringAt(path, row) } : { bytes: null, path: null });
  }
  if (isBinaryType(type)) return (row) => ({ bytes: bytesAt(vector, row), path: null });
  if (isStringType(type)) return (row) => ({ bytes: null, path: stringAt(vector, row) });
  throw new DatasetError(`has type ${typeName(type)}; expected a struct {bytes, path} (the datasets Audio feature), binary audio bytes, or a string path`, { file, field: column });
}

/**
 * Ids for every row of a table: the first id-like column that names each row uniquely, else the
 * audio paths' base names if those are unique, else null (the caller numbers the rows).
 */
function rowIds(table: Table, audioColumn: string, textColumn: string, readAudio: AudioReader): string[] | null {
  const rows = table.numRows;
  const names = table.schema.fields.map((f) => f.name);
  const candidates: ((row: number) => string | null)[] = [];
  for (const name of ID_COLUMNS) {
    if (!names.includes(name) || name === audioColumn || name === textColumn) continue;
    const v = table.getChild(name)!;
    candidates.push((row) => {
      const x: unknown = v.get(row);
      if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'bigint') return null;
      const s = String(x);
      return name === 'path' || name === 'file' ? stem(s) : s;
    });
  }
  candidates.push((row) => {
    const p = readAudio(row).path;
    return p === null ? null : stem(p);
  });
  for (const candidate of candidates) {
    const ids: string[] = [];
    const seen = new Set<string>();
    for (let row = 0; row < rows; row++) {
      const id = candidate(row);
      if (id === null || id === '' || seen.has(id)) break;
      seen.add(id);
      ids.push(id);
    }
    if (ids.length === rows) return ids;
  }
  return null;
}

/** A file name for audio bytes that came without one, from their first bytes. */
function guessFilename(id: string, bytes: Uint8Array): string {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 12));
  const tag = head.toString('latin1', 0, 4);
  const ext =
    tag === 'RIFF' || tag === 'RIFX' || tag === 'RF64'
      ? '.wav'
      : tag === 'fLaC'
        ? '.flac'
        : tag === 'OggS'
          ? '.ogg'
          : tag.startsWith('ID3') || (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0)
            ? '.mp3'
            : tag === 'FORM'
              ? '.aiff'
              : '.bin';
  return `${id.replace(/[^\w.-]+/g, '_')}${ext}`;
}

async function itemsFromTable(
  table: Table,
  file: string,
  opts: { audioColumn?: string; textColumn?: string },
  limit: number,
  rowBase: number,
): Promise<AudioItem[]> {
  const names = table.schema.fields.map((f) => f.name);

  let audioColumn = opts.audioColumn ?? DEFAULT_AUDIO_COLUMN;
  if (!names.includes(audioColumn)) {
    const fromMeta = audioColumn === DEFAULT_AUDIO_COLUMN ? hfAudioFeatures(table).find((n) => names.includes(n)) : undefined;
    if (fromMeta === undefined) {
      throw new DatasetError(`no such audio column; its columns are ${describeColumns(table)}. Name the audio column with audioColumn`, { file, field: audioColumn });
    }
    audioColumn = fromMeta;
  }

  let textColumn = opts.textColumn ?? DEFAULT_TEXT_COLUMN;
  if (!names.includes(textColumn)) {
    // The fallbacks apply to the default only: a column the user named must be there.
    const fallback = textColumn === DEFAULT_TEXT_COLUMN ? TEXT_FALLBACKS.find((n) => names.includes(n) && n !== audioColumn) : undefined;
    if (fallback === undefined) {
      const tried = textColumn === DEFAULT_TEXT_COLUMN ? `any of ${TEXT_FALLBACKS.join(', ')}` : `"${textColumn}"`;
      throw new DatasetError(`no text column found (looked for ${tried}); its columns are ${describeColumns(table)}. Name the transcript column with textColumn`, {
        file,
        field: textColumn,
      });
    }
    textColumn = fallback;
  }

  const readAudio = audioReader(table, file, audioColumn);
  const texts = table.getChild(textColumn)!;
  const rows = Math.min(table.numRows, limit);
  const ids = rowIds(table, audioColumn, textColumn, readAudio);
  const folder = dirname(resolve(file));
  const items: AudioItem[] = [];
  for (let r = 0; r < rows; r++) {
    const row = rowBase + r;
    const reference: unknown = texts.get(r);
    if (typeof reference !== 'string') {
      throw new DatasetError(`has no transcript (${reference === null || reference === undefined ? 'null' : typeof reference}); every row needs its reference text`, {
        file,
        row,
        field: textColumn,
      });
    }
    const { bytes, path } = readAudio(r);
    let audio: Buffer;
    if (bytes !== null) {
      // A view into the file's buffer, not a copy: a Common Voice split is gigabytes.
      audio = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } else if (path !== null) {
      const audioFile = isAbsolute(path) ? path : resolve(folder, path);
      try {
        audio = await readFile(audioFile);
      } catch (err) {
        const why = errnoCode(err) === 'ENOENT' ? 'not found' : `cannot be read (${err instanceof Error ? err.message : String(err)})`;
        throw new DatasetError(`has no audio bytes and its path ${audioFile} is ${why}; save the dataset with the audio embedded, or put the files beside the .arrow file`, {
          file,
          row,
          field: audioColumn,
        });
      }
    } else {
      throw new DatasetError('has neither audio bytes nor a path', { file, row, field: audioColumn });
    }
    const id = ids?.[r] ?? String(row);
    const filename = path !== null ? basename(path) : guessFilename(id, audio);
    items.push({ id, audio, filename, contentType: audioContentType(filename), reference, durationS: audioDurationSeconds(audio, filename) });
  }
  return items;
}

// ---------------------------------------------------------------------------------------------------
// Content types and durations

const CONTENT_TYPES: Record<string, string> = {
  '.wav': 'audio/wav',
  '.wave': 'audio/wav',
  '.flac': 'audio/flac',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.oga': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.webm': 'audio/webm',
  '.m4a': 'audio/mp4',
  '.mp4': 'audio/mp4',
  '.aac': 'audio/aac',
  '.aif': 'audio/aiff',
  '.aiff': 'audio/aiff',
  '.au': 'audio/basic',
  '.amr': 'audio/amr',
};

/** The MIME type for an audio file name, by extension; `application/octet-stream` when unknown. */
export function audioContentType(filename: string): string {
  return CONTENT_TYPES[extname(filename).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Seconds of audio in a WAV (RIFF, RIFX, RF64) or FLAC buffer, from its header; null for other
 * formats or a header that does not say. The bytes decide the format, not the file name, which is
 * accepted for symmetry with audioContentType (names lie: Common Voice ships mp3 as `.wav` now and then).
 */
export function audioDurationSeconds(audio: Buffer, _filename?: string): number | null {
  if (audio.length < 12) return null;
  const tag = audio.toString('latin1', 0, 4);
  if ((tag === 'RIFF' || tag === 'RIFX' || tag === 'RF64') && audio.toString('latin1', 8, 12) === 'WAVE') return wavDuration(audio, tag);
  let flacStart = 0;
  if (tag.startsWith('ID3') && audio.length >= 10) {
    // An ID3v2 tag in front of FLAC: a 10-byte header and a syncsafe size (7 bits a byte), plus a footer if flagged.
    const size = ((audio[6]! & 0x7f) << 21) | ((audio[7]! & 0x7f) << 14) | ((audio[8]! & 0x7f) << 7) | (audio[9]! & 0x7f);
    flacStart = 10 + size + ((audio[5]! & 0x10) !== 0 ? 10 : 0);
  }
  if (audio.length >= flacStart + 4 && audio.toString('latin1', flacStart, flacStart + 4) === 'fLaC') return flacDuration(audio, flacStart);
  return null;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function isChunkId(buf: Buffer, at: number): boolean {
  if (at + 8 > buf.length) return false;
  for (let i = at; i < at + 4; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function wavDuration(buf: Buffer, tag: string): number | null {
  const big = tag === 'RIFX';
  const u16 = (at: number): number => (big ? buf.readUInt16BE(at) : buf.readUInt16LE(at));
  const u32 = (at: number): number => (big ? buf.readUInt32BE(at) : buf.readUInt32LE(at));
  let format: number | null = null;
  let sampleRate = 0;
  let blockAlign = 0;
  let factSamples: number | null = null;
  let ds64DataSize: number | null = null;
  let dataBytes: number | null = null;
  let at = 12;
  while (at + 8 <= buf.length) {
    const id = buf.toString('latin1', at, at + 4);
    const size = u32(at + 4);
    const body = at + 8;
    const remaining = buf.length - body;
    if (id === 'ds64' && size >= 24 && remaining >= 24) {
      // RF64 keeps the real sizes here, as 64-bit numbers; the 32-bit fields say 0xFFFFFFFF.
      ds64DataSize = Number(buf.readBigUInt64LE(body + 8));
    } else if (id === 'fmt ' && size >= 16 && remaining >= 16) {
      format = u16(body);
      sampleRate = u32(body + 4);
      blockAlign = u16(body + 12);
      // WAVE_FORMAT_EXTENSIBLE names the real format in the first two bytes of its sub-format GUID.
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40 && remaining >= 26) format = u16(body + 24);
    } else if (id === 'fact' && size >= 4 && remaining >= 4) {
      factSamples = u32(body);
    } else if (id === 'data') {
      const streamed = size === 0 || size === 0xffffffff;
      // A streamed writer (size 0 or 0xFFFFFFFF) or a truncated file: the audio is what is left.
      dataBytes = tag === 'RF64' && size === 0xffffffff && ds64DataSize !== null ? Math.min(ds64DataSize, remaining) : streamed ? remaining : Math.min(size, remaining);
      if (format !== null) break;
      if (streamed) break;
    }
    let next = body + size + (size % 2);
    // Chunks are padded to even sizes, but some writers forget the pad byte: trust what the bytes show.
    if (size % 2 === 1 && !isChunkId(buf, next) && isChunkId(buf, next - 1)) next -= 1;
    if (next <= at) break;
    at = next;
  }
  if (format === null || dataBytes === null || sampleRate === 0) return null;
  if (format === WAVE_FORMAT_PCM || format === WAVE_FORMAT_IEEE_FLOAT || format === WAVE_FORMAT_ALAW || format === WAVE_FORMAT_MULAW) {
    if (blockAlign === 0) return null;
    return Math.floor(dataBytes / blockAlign) / sampleRate;
  }
  // Compressed WAV (ADPCM, GSM, mp3-in-WAV) says how many samples it holds only in a fact chunk.
  return factSamples !== null ? factSamples / sampleRate : null;
}

function flacDuration(buf: Buffer, start: number): number | null {
  // STREAMINFO is always the first metadata block: a 4-byte block header, then 34 bytes.
  const info = start + 8;
  if (buf.length < info + 18 || (buf[start + 4]! & 0x7f) !== 0) return null;
  const sampleRate = (buf[info + 10]! << 12) | (buf[info + 11]! << 4) | (buf[info + 12]! >> 4);
  const totalSamples = (buf[info + 13]! & 0x0f) * 2 ** 32 + buf.readUInt32BE(info + 14);
  // Zero total samples means the encoder did not know (a stream); the header then cannot say.
  if (sampleRate === 0 || totalSamples === 0) return null;
  return totalSamples / sampleRate;
}
