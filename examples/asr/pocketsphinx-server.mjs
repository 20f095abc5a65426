#!/usr/bin/env node
/**
 * An OpenAI-compatible speech-to-text server around CMU pocketsphinx, with no npm dependencies:
 * it needs only node, sox and pocketsphinx_continuous (Debian: apt-get install sox pocketsphinx
 * pocketsphinx-en-us). Catapult runs it with the `custom` runtime (see README.md beside this file).
 *
 *   node pocketsphinx-server.mjs [--port 8000] [--host 127.0.0.1] [--sentences FILE | --jsgf FILE]
 *
 *   GET  /health                    200 when pocketsphinx, sox and the model are there, else 503 and why
 *   GET  /v1/models                 the one model this server serves
 *   POST /v1/audio/transcriptions   multipart/form-data: file, model, response_format (json|text|verbose_json);
 *                                   or JSON: {"audio": "<base64>", "model": "...", "response_format": "json"}
 *
 * Options:
 *   --port N            port to listen on (default 8000; 0 picks a free one)
 *   --host H            address to bind (default 127.0.0.1)
 *   --model-name NAME   the model id /v1/models reports (default pocketsphinx-en-us)
 *   --sentences FILE    recognise only these sentences, one a line (written as a JSGF grammar)
 *   --jsgf FILE         recognise with this JSGF grammar instead of the language model
 *   --hmm DIR, --dict FILE, --lm FILE   acoustic model, dictionary, language model (default: Debian's en-us)
 *   --concurrency N     decoders run at once; more requests wait in a queue (default: CPU count)
 *   --max-bytes N       largest audio file accepted (default 25 MiB, as OpenAI's API); 413 beyond
 *   --timeout-s N       longest one decode may run (default 120)
 *   --debug             log each request and pocketsphinx's own log (its stderr) to stderr
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, extname, join } from 'node:path';
import { parseArgs } from 'node:util';

const DEBIAN_MODEL = '/usr/share/pocketsphinx/model/en-us';

// ---------------------------------------------------------------------------------------------------
// Options

function usage(message) {
  if (message) console.error(`pocketsphinx-server: ${message}`);
  console.error('usage: node pocketsphinx-server.mjs [--port N] [--host H] [--sentences FILE | --jsgf FILE] [--concurrency N] [--debug]');
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: 'string', default: '8000' },
      host: { type: 'string', default: '127.0.0.1' },
      'model-name': { type: 'string', default: 'pocketsphinx-en-us' },
      sentences: { type: 'string' },
      jsgf: { type: 'string' },
      hmm: { type: 'string', default: join(DEBIAN_MODEL, 'en-us') },
      dict: { type: 'string', default: join(DEBIAN_MODEL, 'cmudict-en-us.dict') },
      lm: { type: 'string', default: join(DEBIAN_MODEL, 'en-us.lm.bin') },
      concurrency: { type: 'string', default: String(availableParallelism()) },
      'max-bytes': { type: 'string', default: String(25 * 1024 * 1024) },
      'timeout-s': { type: 'string', default: '120' },
      debug: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (err) {
  usage(err.message);
}
if (args.help) usage();

function positiveInt(name, min = 1) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer of at least ${min}, got ${args[name]}`);
  return n;
}

const port = positiveInt('port', 0);
const concurrency = positiveInt('concurrency');
const maxBytes = positiveInt('max-bytes');
const timeoutMs = positiveInt('timeout-s') * 1000;
const modelName = args['model-name'];
const debug = args.debug;
if (args.sentences && args.jsgf) usage('give --sentences or --jsgf, not both');

function log(...parts) {
  if (debug) console.error(new Date().toISOString(), ...parts);
}

// ---------------------------------------------------------------------------------------------------
// Health: is everything the decoder needs on this machine?

function onPath(program) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What stops this server from transcribing, as sentences saying what to install; empty when nothing. */
function problems() {
  const found = [];
  if (!onPath('pocketsphinx_continuous')) found.push('pocketsphinx_continuous is not on PATH (Debian: apt-get install pocketsphinx)');
  if (!onPath('sox')) found.push('sox is not on PATH (Debian: apt-get install sox)');
  if (!existsSync(join(args.hmm, 'mdef'))) found.push(`no acoustic model at ${args.hmm} (Debian: apt-get install pocketsphinx-en-us, or pass --hmm)`);
  if (!existsSync(args.dict)) found.push(`no pronunciation dictionary at ${args.dict} (Debian: apt-get install pocketsphinx-en-us, or pass --dict)`);
  if (grammar === null && !existsSync(args.lm)) found.push(`no language model at ${args.lm} (Debian: apt-get install pocketsphinx-en-us, or pass --lm)`);
  if (grammar !== null && !existsSync(grammar.file)) found.push(`grammar file ${grammar.file} is gone`);
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Grammar: --sentences becomes a JSGF grammar that accepts exactly those sentences.

/** Lower case, words only: JSGF tokens must not carry punctuation, and the dictionary is lower case. */
function grammarWords(sentence) {
  return sentence
    .toLowerCase()
    .replace(/[-\u2010-\u2015/_]/g, ' ')
    .replace(/[^\p{L}\p{N}'\s]/gu, ' ')
    .replace(/(^|\s)'+|'+(?=\s|$)/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Words of the pronunciation dictionary (`word(2)` variants folded), or null when it cannot be read. */
function dictionaryWords(file) {
  try {
    const words = new Set();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const word = line.split(/\s/, 1)[0];
      if (word) words.add(word.replace(/\(\d+\)$/, ''));
    }
    return words;
  } catch {
    return null;
  }
}

// One folder for the grammar and each request's files, removed however the process ends.
const workDir = await mkdtemp(join(tmpdir(), 'pocketsphinx-server-'));
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
let grammar = null;
if (args.jsgf) {
  if (!existsSync(args.jsgf)) usage(`--jsgf ${args.jsgf}: no such file`);
  grammar = { kind: 'jsgf', file: args.jsgf };
} else if (args.sentences) {
  let lines;
  try {
    lines = readFileSync(args.sentences, 'utf8').split(/\r?\n/);
  } catch (err) {
    usage(`--sentences ${args.sentences}: ${err.message}`);
  }
  const sentences = [...new Set(lines.map((l) => grammarWords(l).join(' ')).filter(Boolean))];
  if (sentences.length === 0) usage(`--sentences ${args.sentences} has no sentences; write one a line`);
  // pocketsphinx refuses a grammar with a word it cannot pronounce; say which ones here, not at the first request.
  const known = dictionaryWords(args.dict);
  if (known !== null) {
    const unknown = [...new Set(sentences.flatMap((s) => s.split(' ')).filter((w) => !known.has(w)))];
    if (unknown.length > 0) usage(`--sentences: not in the dictionary ${args.dict}: ${unknown.join(', ')}. Spell numbers and symbols out as words`);
  }
  const file = join(workDir, 'sentences.jsgf');
  await writeFile(file, `#JSGF V1.0;\ngrammar sentences;\npublic <s> = ( ${sentences.join(' | ')} );\n`);
  grammar = { kind: 'sentences', file, sentences: sentences.length };
}

// ---------------------------------------------------------------------------------------------------
// Decoding

const children = new Set();

/** Runs a program to completion, killing it after `timeoutMs`; never rejects for a non-zero exit. */
function run(program, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, timedOut, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** An answer other than 200, in OpenAI's error shape. */
class HttpError extends Error {
  constructor(status, message, { type = status >= 500 ? 'server_error' : 'invalid_request_error', param = null, code = null } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }
}

/**
 * True for the only WAV pocketsphinx_continuous reads correctly: it takes the first 44 bytes as the
 * header without walking the chunks, so anything but canonical 16 kHz mono 16-bit PCM goes through sox.
 */
function decoderReady(audio) {
  return (
    audio.length >= 44 &&
    audio.toString('latin1', 0, 4) === 'RIFF' &&
    audio.toString('latin1', 8, 16) === 'WAVEfmt ' &&
    audio.readUInt32LE(16) === 16 &&
    audio.readUInt16LE(20) === 1 &&
    audio.readUInt16LE(22) === 1 &&
    audio.readUInt32LE(24) === 16000 &&
    audio.readUInt16LE(34) === 16 &&
    audio.toString('latin1', 36, 40) === 'data'
  );
}

/** sox picks its reader from the extension; the bytes say the format more reliably than an upload's name. */
function audioExtension(audio, filename) {
  const tag = audio.toString('latin1', 0, 4);
  if (tag === 'RIFF' || tag === 'RIFX' || tag === 'RF64') return '.wav';
  if (tag === 'fLaC') return '.flac';
  if (tag === 'OggS') return '.ogg';
  if (tag === 'FORM') return '.aiff';
  if (tag.startsWith('ID3') || (audio[0] === 0xff && (audio[1] & 0xe0) === 0xe0)) return '.mp3';
  const ext = extname(filename ?? '').toLowerCase();
  return /^\.[a-z0-9]{1,5}$/.test(ext) ? ext : null;
}

// `word start end probability`, as `-time yes` prints for each word of an utterance.
const WORD_LINE = /^(\S+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\S+)$/;
// Silence, sentence marks and noise: real in the alignment, not words of the transcript.
const FILLER = /^(<.*>|\[.*\]|\+\+.*\+\+)$/;

/**
 * pocketsphinx_continuous splits the audio at silences into utterances and prints, for each, the
 * hypothesis on one line and (with `-time yes`) one line per word with its times in seconds.
 */
function parseDecoderOutput(stdout) {
  const segments = [];
  for (const line of stdout.split('\n')) {
    const m = WORD_LINE.exec(line.trim());
    if (m && segments.length > 0) {
      segments.at(-1).words.push({ word: m[1].replace(/\(\d+\)$/, ''), start: Number(m[2]), end: Number(m[3]) });
    } else if (!m) {
      segments.push({ text: line.trim(), words: [] });
    }
  }
  const spoken = segments.filter((s) => s.text !== '');
  return {
    text: spoken.map((s) => s.text).join(' '),
    segments: spoken.map((s, id) => ({ id, start: s.words[0]?.start ?? 0, end: s.words.at(-1)?.end ?? 0, text: s.text })),
    words: spoken.flatMap((s) => s.words.filter((w) => !FILLER.test(w.word))),
  };
}

/**
 * With its default beams the grammar search prunes the right path now and then and ends outside the
 * grammar ("Final result does not match the grammar"), answering nothing: 7 of 60 espeak-ng sentences
 * here. A grammar of a few sentences is a small search, so wide beams cost little (about 0.1 s a
 * decode either way) and got all 60.
 */
const GRAMMAR_BEAMS = ['-beam', '1e-80', '-pbeam', '1e-80', '-wbeam', '1e-60'];

/** Converts if needed, decodes, and returns the transcript; temp files are gone when it returns. */
async function transcribe(audio, filename) {
  const dir = await mkdtemp(join(workDir, 'req-'));
  try {
    const wav = join(dir, 'audio.wav');
    if (decoderReady(audio)) {
      await writeFile(wav, audio);
    } else {
      const ext = audioExtension(audio, filename);
      if (ext === null) throw new HttpError(400, 'Unrecognised audio format: send WAV, FLAC, Ogg or MP3, or a file name with its extension', { param: 'file', code: 'invalid_audio' });
      const input = join(dir, `input${ext}`);
      await writeFile(input, audio);
      // -D: no dither. sox's default dither is fresh random noise, so the same upload would decode differently each time.
      const sox = await run('sox', ['-V1', '-D', input, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', wav]);
      if (sox.code !== 0) {
        throw new HttpError(400, `Could not decode the audio file: ${sox.stderr.trim() || `sox exited with ${sox.code ?? sox.signal}`}`, { param: 'file', code: 'invalid_audio' });
      }
    }
    const argv = ['-infile', wav, '-time', 'yes', '-hmm', args.hmm, '-dict', args.dict, ...(grammar ? ['-jsgf', grammar.file, ...GRAMMAR_BEAMS] : ['-lm', args.lm])];
    const started = Date.now();
    const ps = await run('pocketsphinx_continuous', argv);
    if (debug) process.stderr.write(ps.stderr);
    if (ps.timedOut) throw new HttpError(500, `pocketsphinx took longer than ${timeoutMs / 1000} s and was stopped`, { code: 'timeout' });
    if (ps.code !== 0) {
      // Its log is long; the ERROR and FATAL lines are the ones that say what went wrong.
      const why = ps.stderr.split('\n').filter((l) => /^(ERROR|FATAL)/.test(l)).join(' ') || `exit ${ps.code ?? ps.signal}`;
      throw new HttpError(500, `pocketsphinx_continuous failed: ${why}`);
    }
    const duration = Math.max(0, (await stat(wav)).size - 44) / (16000 * 2);
    log(`decoded ${duration.toFixed(2)} s of audio in ${Date.now() - started} ms`);
    return { ...parseDecoderOutput(ps.stdout), duration };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** At most `n` decoders at once; the rest wait in arrival order. */
function limiter(n) {
  let active = 0;
  const waiting = [];
  return {
    async run(fn) {
      if (active < n) active++;
      else await new Promise((resolve) => waiting.push(resolve)); // the slot is handed over, still counted
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
    stats: () => ({ active, queued: waiting.length }),
  };
}

const decoders = limiter(concurrency);

// ---------------------------------------------------------------------------------------------------
// HTTP: bodies, multipart/form-data, responses

/**
 * The request body, or a 413 once it passes `limit`. An oversized body is still read to its end
 * (and dropped) so the client, which is busy sending, sees the 413 instead of a reset connection.
 */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => {
      if (size > limit) reject(new HttpError(413, `Maximum content size limit (${maxBytes} bytes) exceeded`, { param: 'file', code: 'file_too_large' }));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** `value; key=token; key="quoted \"string\""` → { value, params } (keys lower-cased). */
function parseHeaderValue(header) {
  const params = {};
  const semi = header.indexOf(';');
  const value = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  const re = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (const m of header.slice(semi === -1 ? header.length : semi).matchAll(re)) {
    const key = m[1].toLowerCase();
    params[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3].trim();
  }
  // RFC 5987 `filename*=UTF-8''na%C3%AFve.wav` wins over the plain one when both are sent.
  const extended = params['filename*'] && /^utf-8''(.*)$/i.exec(params['filename*']);
  if (extended) {
    try {
      params.filename = decodeURIComponent(extended[1]);
    } catch {
      // A malformed escape: keep the plain filename.
    }
  }
  return { value, params };
}

function badMultipart(why) {
  return new HttpError(400, `Could not parse multipart form: ${why}`, { code: 'invalid_multipart' });
}

/**
 * multipart/form-data (RFC 7578): parts separated by CRLF `--boundary`, each a block of headers, a
 * blank line and the content; `--boundary--` ends the body. Content is binary and may itself hold
 * CRLFs, so a part ends only where CRLF `--boundary` starts.
 */
function parseMultipart(body, boundary) {
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const parts = [];
  // The first boundary may follow a preamble; it has no CRLF in front when it opens the body.
  let pos;
  if (body.subarray(0, dashBoundary.length).equals(dashBoundary)) {
    pos = dashBoundary.length;
  } else {
    const first = body.indexOf(delimiter);
    if (first === -1) throw badMultipart(`no boundary "${boundary}" found in the body`);
    pos = first + delimiter.length;
  }
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // `--`: the closing boundary
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding is allowed
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw badMultipart('a boundary line does not end in CRLF');
    pos += 2;
    let headerEnd;
    let contentStart;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headerEnd = pos; // a part without headers
      contentStart = pos + 2;
    } else {
      headerEnd = body.indexOf('\r\n\r\n', pos);
      if (headerEnd === -1) throw badMultipart('a part has no blank line after its headers');
      contentStart = headerEnd + 4;
    }
    const headers = {};
    for (const line of body.toString('utf8', pos, headerEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const end = body.indexOf(delimiter, contentStart);
    if (end === -1) throw badMultipart(`the body ends before the closing boundary "--${boundary}--"`);
    const disposition = parseHeaderValue(headers['content-disposition'] ?? '');
    if (disposition.value !== 'form-data' || !disposition.params.name) throw badMultipart('a part lacks Content-Disposition: form-data; name="..."');
    parts.push({
      name: disposition.params.name,
      filename: disposition.params.filename,
      contentType: headers['content-type'],
      data: body.subarray(contentStart, end),
    });
    pos = end + delimiter.length;
  }
}

const RESPONSE_FORMATS = ['json', 'text', 'verbose_json'];

/** The upload as { audio, filename, model, responseFormat }, from multipart/form-data or JSON. */
async function readTranscriptionRequest(req) {
  const contentType = parseHeaderValue(req.headers['content-type'] ?? '');
  let upload;
  if (contentType.value === 'multipart/form-data') {
    const boundary = contentType.params.boundary;
    if (!boundary || boundary.length > 70) throw badMultipart('the Content-Type header has no boundary parameter');
    const body = await readBody(req, maxBytes + 1024 * 1024); // the form's other fields and headers fit in the extra MiB
    const parts = parseMultipart(body, boundary);
    const field = (name) => {
      const part = parts.find((p) => p.name === name && p.filename === undefined);
      return part ? part.data.toString('utf8').trim() : undefined;
    };
    const file = parts.find((p) => p.name === 'file');
    upload = { audio: file?.data, filename: file?.filename, model: field('model'), responseFormat: field('response_format') };
  } else if (contentType.value === 'application/json') {
    const body = await readBody(req, Math.ceil((maxBytes * 4) / 3) + 1024 * 1024); // base64 is 4/3 the size
    let json;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, `We could not parse the JSON body of your request: ${err.message}`, { code: 'invalid_json' });
    }
    if (typeof json !== 'object' || json === null) throw new HttpError(400, 'The JSON body must be an object like {"audio": "<base64>", "model": "..."}');
    let audio;
    if (json.audio !== undefined) {
      if (typeof json.audio !== 'string') throw new HttpError(400, 'audio must be a base64 string', { param: 'audio' });
      const b64 = json.audio.replace(/^data:[^,]*;base64,/, '');
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64.replace(/\s+/g, ''))) throw new HttpError(400, 'audio is not valid base64', { param: 'audio' });
      audio = Buffer.from(b64, 'base64');
    }
    upload = { audio, filename: typeof json.filename === 'string' ? json.filename : undefined, model: json.model, responseFormat: json.response_format };
  } else {
    throw new HttpError(400, 'Send multipart/form-data with a `file` field (or JSON {"audio": "<base64>", "model": "..."})', { code: 'unsupported_content_type' });
  }
  if (upload.audio === undefined) throw new HttpError(400, "you must provide a 'file' (or JSON 'audio')", { param: 'file', code: 'missing_file' });
  if (upload.audio.length === 0) throw new HttpError(400, 'The audio file is empty', { param: 'file', code: 'invalid_audio' });
  if (upload.audio.length > maxBytes) throw new HttpError(413, `Maximum content size limit (${maxBytes} bytes) exceeded`, { param: 'file', code: 'file_too_large' });
  upload.responseFormat ??= 'json';
  if (!RESPONSE_FORMATS.includes(upload.responseFormat)) {
    throw new HttpError(400, `response_format must be one of ${RESPONSE_FORMATS.join(', ')}; got '${upload.responseFormat}'`, { param: 'response_format', code: 'unsupported_response_format' });
  }
  return upload;
}

function send(res, status, body, contentType = 'application/json') {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function sendError(res, err) {
  send(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: err.code } });
}

const created = Math.floor(Date.now() / 1000);

async function handle(req, res) {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    const found = problems();
    if (found.length > 0) return send(res, 503, { status: 'unavailable', problems: found });
    return send(res, 200, { status: 'ok', model: modelName, grammar: grammar?.kind ?? null, concurrency, ...decoders.stats() });
  }
  if (path === '/v1/models' && req.method === 'GET') {
    return send(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created, owned_by: 'pocketsphinx' }] });
  }
  if (path === '/v1/audio/transcriptions') {
    if (req.method !== 'POST') throw new HttpError(405, `Method ${req.method} not allowed; POST the audio`, { code: 'method_not_allowed' });
    const upload = await readTranscriptionRequest(req);
    const found = problems();
    if (found.length > 0) throw new HttpError(503, `Cannot transcribe: ${found.join('; ')}`, { code: 'unavailable' });
    const result = await decoders.run(() => transcribe(upload.audio, upload.filename));
    if (upload.responseFormat === 'text') return send(res, 200, `${result.text}\n`, 'text/plain; charset=utf-8');
    if (upload.responseFormat === 'verbose_json') {
      return send(res, 200, { task: 'transcribe', language: 'english', duration: result.duration, text: result.text, segments: result.segments, words: result.words });
    }
    return send(res, 200, { text: result.text });
  }
  throw new HttpError(404, `Unknown request URL: ${req.method} ${path}`, { code: 'unknown_url' });
}

const server = createServer((req, res) => {
  const started = Date.now();
  res.on('finish', () => log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started} ms`));
  handle(req, res).catch((err) => {
    if (!(err instanceof HttpError)) {
      console.error('pocketsphinx-server:', err);
      err = new HttpError(500, `Internal error: ${err.message}`);
    }
    if (!res.headersSent) sendError(res, err);
    else res.destroy();
  });
});

server.on('error', (err) => {
  console.error(`pocketsphinx-server: cannot listen on ${args.host}:${port}: ${err.message}`);
  process.exit(1);
});

server.listen(port, args.host, () => {
  const { address, port: bound } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`listening on http://${host}:${bound}`);
  if (problems().length > 0) console.error(`pocketsphinx-server: not ready: ${problems().join('; ')}`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  for (const child of children) child.kill('SIGKILL');
  process.exit(0); // the exit handler above removes the work folder
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
