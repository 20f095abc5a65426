/**
 * examples/asr/pocketsphinx-server.mjs as Catapult's `custom` runtime would run it: a real node
 * process on a free port, real pocketsphinx decoding speech that espeak-ng synthesised from known
 * sentences, real HTTP with OpenAI-style multipart uploads.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AudioItem, corpusScore, loadAsrManifest, normalizeEnglish, scoreUtterance } from '../../src/bench/index.js';
import { freePort } from '../../src/util/index.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { describeWithSpeech, run, synthesizeCorpus } from '../helpers/speech.js';

const SERVER = join(ROOT, 'examples', 'asr', 'pocketsphinx-server.mjs');

const SENTENCES = [
  { id: 'fox', text: 'The quick brown fox jumps over the lazy dog.' },
  { id: 'stella', text: 'Please call Stella.' },
  { id: 'numbers', text: 'one two three four five six' },
  { id: 'weather', text: 'It is raining in the city today' },
  { id: 'coffee', text: 'I would like a cup of coffee' },
  { id: 'meeting', text: 'The meeting starts at nine thirty' },
];

interface Server {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts the example server as its own process with its own TMPDIR, waiting for its `listening on` line. */
async function startServer(args: string[], tmp: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [SERVER, '--port', String(port), '--host', '127.0.0.1', '--concurrency', '2', ...args], {
    env: childEnv({ TMPDIR: tmp }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One upload as the OpenAI SDK (and Catapult's engine) sends it: multipart with file, model, response_format. */
function transcribe(url: string, item: Pick<AudioItem, 'audio' | 'filename' | 'contentType'>, responseFormat = 'json'): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(item.audio)], { type: item.contentType }), item.filename);
  form.append('model', 'pocketsphinx-en-us');
  form.append('response_format', responseFormat);
  return fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

async function transcribeText(url: string, item: AudioItem): Promise<string> {
  const res = await transcribe(url, item);
  const body = (await res.json()) as { text?: unknown };
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(typeof body.text).toBe('string');
  return body.text as string;
}

function expectOpenAiError(body: any, param: string | null): void {
  expect(body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param, code: expect.any(String) } });
  expect(body.error.message.length).toBeGreaterThan(10);
}

describeWithSpeech('the pocketsphinx example server', ['espeak-ng', 'sox', 'pocketsphinx'], () => {
  let tmp: { dir: string; remove: () => void };
  let items: AudioItem[];
  let grammarServer: Server;
  let freeServer: Server;
  let serverTmp: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'catapult-asr-'));
    tmp = { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
    const corpus = await synthesizeCorpus(join(tmp.dir, 'corpus'), SENTENCES);
    items = await loadAsrManifest(corpus.manifest);
    const sentencesFile = join(tmp.dir, 'sentences.txt');
    await writeFile(sentencesFile, SENTENCES.map((s) => s.text).join('\n') + '\n');
    serverTmp = join(tmp.dir, 'server-tmp');
    await mkdir(serverTmp);
    [grammarServer, freeServer] = await Promise.all([startServer(['--sentences', sentencesFile], serverTmp), startServer([], serverTmp)]);
  });

  afterAll(async () => {
    await Promise.all([grammarServer?.stop(), freeServer?.stop()]);
    tmp?.remove();
  });

  it('answers /health with 200 and lists its model', async () => {
    const health = await fetch(`${grammarServer.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', grammar: 'sentences', concurrency: 2 });
    const models = (await (await fetch(`${freeServer.url}/v1/models`)).json()) as any;
    expect(models).toMatchObject({ object: 'list', data: [{ id: 'pocketsphinx-en-us', object: 'model' }] });
  });

  it('transcribes every sentence exactly when given the sentences as a grammar, six at once through two decoders', async () => {
    const started = Date.now();
    const texts = await Promise.all(items.map((item) => transcribeText(grammarServer.url, item)));
    const ms = Date.now() - started;
    expect(texts.map(normalizeEnglish)).toEqual(items.map((i) => normalizeEnglish(i.reference)));
    const score = corpusScore(items.map((item, i) => scoreUtterance(item.id, item.reference, texts[i]!)));
    expect(score.wer).toBe(0);
    console.log(`pocketsphinx with a grammar: WER ${score.wer}, ${items.length} utterances in ${ms} ms`);
  });

  it('returns a transcript for most sentences without a grammar, running at most two decoders at once', async () => {
    const started = Date.now();
    let done = false;
    const seen = { active: 0, queued: 0 };
    const watch = (async () => {
      while (!done) {
        const h = (await (await fetch(`${freeServer.url}/health`)).json()) as { active: number; queued: number };
        seen.active = Math.max(seen.active, h.active);
        seen.queued = Math.max(seen.queued, h.queued);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const texts = await Promise.all(items.map((item) => transcribeText(freeServer.url, item)));
    const ms = Date.now() - started;
    done = true;
    await watch;
    expect(seen.active).toBe(2);
    expect(seen.queued).toBeGreaterThan(0);
    // Free-form pocketsphinx on synthetic speech is poor: assert only that it hears something.
    expect(texts.filter((t) => t.trim() !== '').length).toBeGreaterThanOrEqual(items.length - 1);
    const score = corpusScore(items.map((item, i) => scoreUtterance(item.id, item.reference, texts[i]!)));
    expect(score.words.referenceLength).toBe(items.reduce((n, i) => n + normalizeEnglish(i.reference).split(' ').length, 0));
    expect(score.wer).not.toBeNull();
    const audioS = items.reduce((s, i) => s + (i.durationS ?? 0), 0);
    console.log(
      `pocketsphinx without a grammar: WER ${(score.wer! * 100).toFixed(1)}%, CER ${(score.cer! * 100).toFixed(1)}% ` +
        `over ${score.words.referenceLength} words; ${audioS.toFixed(1)} s of audio in ${ms} ms (RTFx ${(audioS / (ms / 1000)).toFixed(1)})`,
    );
  });

  it('converts audio in other formats and rates with sox before decoding', async () => {
    const wav = join(tmp.dir, 'corpus', 'stella.wav');
    const flac = join(tmp.dir, 'stella-44k-stereo.flac');
    await run('sox', ['-V1', wav, '-r', '44100', '-c', '2', flac]);
    const text = await transcribeText(grammarServer.url, { id: 'stella', reference: '', durationS: null, audio: await readFile(flac), filename: 'stella.flac', contentType: 'audio/flac' });
    expect(normalizeEnglish(text)).toBe('please call stella');
  });

  it('accepts a JSON body with base64 audio, and the text and verbose_json formats', async () => {
    const fox = items.find((i) => i.id === 'fox')!;
    const res = await fetch(`${grammarServer.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ audio: fox.audio.toString('base64'), model: 'pocketsphinx-en-us' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ text: 'the quick brown fox jumps over the lazy dog' });

    const text = await transcribe(grammarServer.url, fox, 'text');
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await text.text()).toBe('the quick brown fox jumps over the lazy dog\n');

    const verbose = (await (await transcribe(grammarServer.url, fox, 'verbose_json')).json()) as any;
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'english', text: 'the quick brown fox jumps over the lazy dog' });
    expect(Math.abs(verbose.duration - fox.durationS!)).toBeLessThan(0.001);
    expect(verbose.words.map((w: any) => w.word)).toEqual(['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'the', 'lazy', 'dog']);
    for (const w of verbose.words) expect(w.end).toBeGreaterThan(w.start);
  });

  it('answers bad requests with 400 in OpenAI error shape, and oversized ones with 413', async () => {
    const url = `${grammarServer.url}/v1/audio/transcriptions`;
    const noFile = new FormData();
    noFile.append('model', 'pocketsphinx-en-us');
    const r1 = await fetch(url, { method: 'POST', body: noFile });
    expect(r1.status).toBe(400);
    expectOpenAiError(await r1.json(), 'file');

    const r2 = await fetch(url, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'no boundary here' });
    expect(r2.status).toBe(400);
    expectOpenAiError(await r2.json(), null);

    const truncated = '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF and then nothing';
    const r3 = await fetch(url, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=XyZ' }, body: truncated });
    expect(r3.status).toBe(400);
    const b3 = (await r3.json()) as any;
    expectOpenAiError(b3, null);
    expect(b3.error.message).toContain('closing boundary');

    const notAudio = new FormData();
    notAudio.append('file', new Blob(['this is not audio']), 'notes.txt');
    const r4 = await fetch(url, { method: 'POST', body: notAudio });
    expect(r4.status).toBe(400);
    expectOpenAiError(await r4.json(), 'file');

    const badFormat = new FormData();
    badFormat.append('file', new Blob([new Uint8Array(items[0]!.audio)]), 'a.wav');
    badFormat.append('response_format', 'srt');
    const r5 = await fetch(url, { method: 'POST', body: badFormat });
    expect(r5.status).toBe(400);
    expectOpenAiError(await r5.json(), 'response_format');

    const r6 = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"audio": 12' });
    expect(r6.status).toBe(400);
    expectOpenAiError(await r6.json(), null);

    const big = new FormData();
    big.append('file', new Blob([new Uint8Array(26 * 1024 * 1024)]), 'big.wav');
    const r7 = await fetch(url, { method: 'POST', body: big });
    expect(r7.status).toBe(413);
    expect(((await r7.json()) as any).error.code).toBe('file_too_large');
  });

  it('parses multipart bodies with quoted boundaries and file names, CRLFs inside the file, and a preamble', async () => {
    const boundary = 'a "quoted" boundary';
    const plainBoundary = 'b0und';
    const audio = items.find((i) => i.id === 'stella')!.audio;
    for (const [ct, b] of [
      [`multipart/form-data; boundary="${boundary.replace(/"/g, '\\"')}"`, boundary],
      [`multipart/form-data; charset=utf-8; boundary=${plainBoundary}`, plainBoundary],
    ] as const) {
      const body = Buffer.concat([
        Buffer.from(`preamble to ignore\r\n--${b}\r\nContent-Disposition: form-data; name="model"\r\n\r\npocketsphinx-en-us\r\n`),
        Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="my \\"clip\\"; v2.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
        audio,
        Buffer.from(`\r\n--${b}--\r\n`),
      ]);
      // The samples hold CRLF byte pairs of their own; the parser must not end the part there.
      expect(audio.indexOf('\r\n')).toBeGreaterThan(0);
      const res = await fetch(`${grammarServer.url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': ct }, body });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ text: 'please call stella' });
    }
  });

  it('leaves no temporary files behind after requests, and none at all once stopped', async () => {
    const dirs = await readdir(serverTmp);
    expect(dirs).toHaveLength(2); // one work folder per server
    const contents = (await Promise.all(dirs.map((d) => readdir(join(serverTmp, d))))).flat();
    expect(contents).toEqual(['sentences.jsgf']); // the grammar server's grammar; no request folders
  });

  it('reports 503 from /health, saying what is missing, when the model is not installed', async () => {
    const broken = await startServer(['--hmm', join(tmp.dir, 'no-model')], serverTmp);
    try {
      const res = await fetch(`${broken.url}/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.problems.join(' ')).toContain(`no acoustic model at ${join(tmp.dir, 'no-model')}`);
      const upload = await transcribe(broken.url, items[0]!);
      expect(upload.status).toBe(503);
    } finally {
      await broken.stop();
    }
  });

  it('refuses at start a sentence with a word pocketsphinx cannot pronounce', async () => {
    const file = join(tmp.dir, 'bad-sentences.txt');
    await writeFile(file, 'call me at 42\nqwxzzy flumph\n');
    await expect(startServer(['--sentences', file], serverTmp)).rejects.toThrow(/not in the dictionary .*: 42, qwxzzy, flumph\. Spell numbers/);
  });

  it('removes its work folder when stopped', async () => {
    await Promise.all([grammarServer.stop(), freeServer.stop()]);
    expect(await readdir(serverTmp)).toEqual([]);
  });
});
