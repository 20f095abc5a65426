import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Binary, Field, Int32, Schema, Struct, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithSpeech, run, soxDuration } from '../../test/helpers/speech.js';
import { type AudioItem, DatasetError, audioContentType, audioDurationSeconds, loadAsrManifest, loadHfArrow } from './audio.js';

// Not test/helpers/services.ts's tempDir: importing that module checks for Postgres, which these tests do not need.
function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------------
// Hand-built WAV and FLAC buffers, byte by byte, so each header quirk is tested on purpose.

interface FmtOptions {
  format?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  /** WAVE_FORMAT_EXTENSIBLE with this sub-format (1 PCM, 3 float). */
  extensible?: number;
}

function u16(n: number, big = false): Buffer {
  const b = Buffer.alloc(2);
  if (big) b.writeUInt16BE(n);
  else b.writeUInt16LE(n);
  return b;
}

function u32(n: number, big = false): Buffer {
  const b = Buffer.alloc(4);
  if (big) b.writeUInt32BE(n);
  else b.writeUInt32LE(n);
  return b;
}

function fmtBody(o: FmtOptions, big = false): Buffer {
  const channels = o.channels ?? 1;
  const rate = o.rate ?? 16000;
  const bits = o.bits ?? 16;
  const blockAlign = channels * Math.ceil(bits / 8);
  const base = [u16(o.extensible !== undefined ? 0xfffe : (o.format ?? 1), big), u16(channels, big), u32(rate, big), u32(rate * blockAlign, big), u16(blockAlign, big), u16(bits, big)];
  if (o.extensible === undefined) return Buffer.concat(base);
  // cbSize 22, valid bits, channel mask, then the sub-format GUID (format code + the KSDATAFORMAT tail).
  const guidTail = Buffer.from('000000001000800000aa00389b71', 'hex');
  return Buffer.concat([...base, u16(22, big), u16(bits, big), u32(channels === 1 ? 4 : 3, big), u16(o.extensible, big), guidTail]);
}

/** A chunk: id, size (or `size` to lie about it), body, and the pad byte after an odd body unless `pad: false`. */
function chunk(id: string, body: Buffer, opts: { big?: boolean; size?: number; pad?: boolean } = {}): Buffer {
  const pad = body.length % 2 === 1 && opts.pad !== false ? Buffer.alloc(1) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(id, 'latin1'), u32(opts.size ?? body.length, opts.big), body, pad]);
}

function riff(chunks: Buffer[], tag = 'RIFF'): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  return Buffer.concat([Buffer.from(tag, 'latin1'), u32(body.length, tag === 'RIFX'), body]);
}

/** A plain PCM WAV: `frames` frames of silence. */
function pcmWav(frames: number, o: FmtOptions = {}): Buffer {
  const blockAlign = (o.channels ?? 1) * Math.ceil((o.bits ?? 16) / 8);
  return riff([chunk('fmt ', fmtBody(o)), chunk('data', Buffer.alloc(frames * blockAlign))]);
}

function flac(rate: number, totalSamples: number, channels = 1, bits = 16): Buffer {
  const info = Buffer.alloc(34);
  info.writeUInt16BE(4096, 0);
  info.writeUInt16BE(4096, 2);
  // 20 bits sample rate, 3 bits channels-1, 5 bits bits-per-sample-1, 36 bits total samples.
  info[10] = (rate >> 12) & 0xff;
  info[11] = (rate >> 4) & 0xff;
  info[12] = ((rate & 0x0f) << 4) | (((channels - 1) & 0x07) << 1) | (((bits - 1) >> 4) & 0x01);
  info[13] = (((bits - 1) & 0x0f) << 4) | Math.floor(totalSamples / 2 ** 32);
  info.writeUInt32BE(totalSamples % 2 ** 32, 14);
  // Last-metadata-block flag set, type 0 (STREAMINFO), length 34.
  return Buffer.concat([Buffer.from('fLaC', 'latin1'), Buffer.from([0x80, 0, 0, 34]), info]);
}

describe('audioDurationSeconds on hand-built headers', () => {
  it('reads a canonical 16 kHz mono PCM WAV', () => {
    expect(audioDurationSeconds(pcmWav(16000))).toBe(1);
    expect(audioDurationSeconds(pcmWav(24000, { rate: 48000, channels: 2, bits: 24 }))).toBe(0.5);
  });

  it('skips a LIST chunk of odd size, with or without its pad byte', () => {
    const list = Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00', 'latin1'); // 17 bytes: odd
    const fmt = chunk('fmt ', fmtBody({}));
    const data = chunk('data', Buffer.alloc(8000 * 2));
    expect(audioDurationSeconds(riff([fmt, chunk('LIST', list), data]))).toBe(0.5);
    expect(audioDurationSeconds(riff([fmt, chunk('LIST', list, { pad: false }), data]))).toBe(0.5);
  });

  it('reads big-endian RIFX', () => {
    const wav = riff([chunk('fmt ', fmtBody({ rate: 8000 }, true), { big: true }), chunk('data', Buffer.alloc(4000 * 2), { big: true })], 'RIFX');
    expect(audioDurationSeconds(wav)).toBe(0.5);
  });

  it('uses the bytes that are there when the data size says streamed (0 or 0xFFFFFFFF) or overshoots', () => {
    const fmt = chunk('fmt ', fmtBody({}));
    const samples = Buffer.alloc(3200 * 2);
    for (const size of [0, 0xffffffff, 0x7ffff000]) {
      expect(audioDurationSeconds(riff([fmt, Buffer.concat([Buffer.from('data'), u32(size), samples])]))).toBeCloseTo(0.2, 9);
    }
  });

  it('reads WAVE_FORMAT_EXTENSIBLE with PCM and IEEE float sub-formats', () => {
    const pcm = riff([chunk('fmt ', fmtBody({ extensible: 1, channels: 2, bits: 24, rate: 44100 })), chunk('data', Buffer.alloc(44100 * 6))]);
    expect(audioDurationSeconds(pcm)).toBe(1);
    const float = riff([chunk('fmt ', fmtBody({ extensible: 3, bits: 32, rate: 22050 })), chunk('data', Buffer.alloc(22050 * 4 * 2))]);
    expect(audioDurationSeconds(float)).toBe(2);
  });

  it('reads IEEE float WAV', () => {
    expect(audioDurationSeconds(pcmWav(12000, { format: 3, bits: 32, rate: 48000 }))).toBe(0.25);
  });

  it('reads compressed WAV from its fact chunk, and says null without one', () => {
    const adpcm = fmtBody({ format: 0x11, bits: 4, rate: 16000 });
    expect(audioDurationSeconds(riff([chunk('fmt ', adpcm), chunk('fact', u32(24000)), chunk('data', Buffer.alloc(100))]))).toBe(1.5);
    expect(audioDurationSeconds(riff([chunk('fmt ', adpcm), chunk('data', Buffer.alloc(100))]))).toBeNull();
  });

  it('reads RF64 sizes from its ds64 chunk', () => {
    const ds64 = Buffer.alloc(28);
    ds64.writeBigUInt64LE(0n, 0);
    ds64.writeBigUInt64LE(BigInt(16000 * 2), 8);
    const wav = riff([chunk('ds64', ds64), chunk('fmt ', fmtBody({})), chunk('data', Buffer.alloc(16000 * 2 + 64), { size: 0xffffffff })], 'RF64');
    expect(audioDurationSeconds(wav)).toBe(1);
  });

  it('reads FLAC STREAMINFO, also behind an ID3v2 tag', () => {
    expect(audioDurationSeconds(flac(44100, 88200))).toBe(2);
    expect(audioDurationSeconds(flac(96000, 2 ** 33))).toBeCloseTo(2 ** 33 / 96000, 6);
    const id3 = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x05', 'latin1'), Buffer.alloc(5)]);
    expect(audioDurationSeconds(Buffer.concat([id3, flac(16000, 8000)]))).toBe(0.5);
  });

  it('says null for FLAC of unknown length, for mp3, ogg and garbage, and for WAV missing a chunk', () => {
    expect(audioDurationSeconds(flac(44100, 0))).toBeNull();
    expect(audioDurationSeconds(Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(400)]))).toBeNull();
    expect(audioDurationSeconds(Buffer.from([0xff, 0xfb, 0x90, 0x64, ...new Array<number>(400).fill(0)]), 'a.mp3')).toBeNull();
    expect(audioDurationSeconds(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(100)]))).toBeNull();
    expect(audioDurationSeconds(Buffer.from('not audio at all, just text'))).toBeNull();
    expect(audioDurationSeconds(Buffer.alloc(0))).toBeNull();
    expect(audioDurationSeconds(riff([chunk('fmt ', fmtBody({}))]))).toBeNull();
    expect(audioDurationSeconds(riff([chunk('data', Buffer.alloc(100))]))).toBeNull();
    expect(audioDurationSeconds(pcmWav(100).subarray(0, 30))).toBeNull();
  });
});

describe('audioContentType', () => {
  it('names common audio types by extension, case-insensitively', () => {
    expect(audioContentType('a.wav')).toBe('audio/wav');
    expect(audioContentType('clips/A.FLAC')).toBe('audio/flac');
    expect(audioContentType('common_voice_en_1.mp3')).toBe('audio/mpeg');
    expect(audioContentType('x.ogg')).toBe('audio/ogg');
    expect(audioContentType('x.m4a')).toBe('audio/mp4');
    expect(audioContentType('noext')).toBe('application/octet-stream');
  });
});

describeWithSpeech('audioDurationSeconds on files sox and espeak-ng write', ['espeak-ng', 'sox'], () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir('catapult-audio-');
  });
  afterAll(() => tmp.remove());

  const soxCases: [string, string[]][] = [
    ['pcm16-16k-mono.wav', ['-r', '16000', '-c', '1', '-b', '16']],
    ['pcm24-44k-stereo.wav', ['-r', '44100', '-c', '2', '-b', '24']],
    ['float32-48k.wav', ['-r', '48000', '-c', '1', '-e', 'floating-point', '-b', '32']],
    ['u8-8k.wav', ['-r', '8000', '-c', '1', '-b', '8']],
    ['ulaw-8k.wav', ['-r', '8000', '-c', '1', '-e', 'u-law']],
    ['six-channels.wav', ['-r', '16000', '-c', '6', '-b', '16']],
    ['rifx.wav', ['-r', '16000', '-c', '1', '-b', '16', '-B', '-t', 'wav']],
    ['flac-22k.flac', ['-r', '22050', '-c', '1', '-b', '16']],
    ['flac-96k-24bit.flac', ['-r', '96000', '-c', '2', '-b', '24']],
  ];

  it.each(soxCases)('agrees with soxi -D within 1 ms on %s', async (name, args) => {
    const file = join(tmp.dir, name);
    // -V1: sox's dither warnings are not what this test is about.
    await run('sox', ['-V1', '-n', ...args, file, 'synth', '1.2345', 'sine', '440', 'vol', '0.5']);
    const buf = await readFile(file);
    if (name === 'rifx.wav') expect(buf.toString('latin1', 0, 4)).toBe('RIFX');
    const ours = audioDurationSeconds(buf, name);
    expect(ours).not.toBeNull();
    expect(Math.abs(ours! - (await soxDuration(file)))).toBeLessThan(0.001);
  });

  it('agrees with soxi -D on espeak-ng speech, and reads espeak-ng --stdout output that soxi cannot', async () => {
    const file = join(tmp.dir, 'espeak.wav');
    const text = 'the quick brown fox jumps over the lazy dog';
    await run('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', file, text]);
    const buf = await readFile(file);
    const ours = audioDurationSeconds(buf, 'espeak.wav');
    expect(Math.abs(ours! - (await soxDuration(file)))).toBeLessThan(0.001);
    expect(ours).toBeGreaterThan(1);

    // Written to a pipe, espeak-ng cannot seek back to fix the sizes and leaves a placeholder there;
    // soxi then reports 0 s, but the samples are the same as in the file above.
    const piped = join(tmp.dir, 'espeak-stdout.wav');
    const stdout = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('espeak-ng', ['-v', 'en-us', '-s', '140', '--stdout', text], { stdio: ['ignore', 'pipe', 'inherit'] });
      const parts: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => parts.push(d));
      child.on('error', reject);
      child.on('close', () => resolve(Buffer.concat(parts)));
    });
    await writeFile(piped, stdout);
    expect(stdout.readUInt32LE(40)).toBeGreaterThan(stdout.length);
    expect(Math.abs(audioDurationSeconds(stdout)! - ours!)).toBeLessThan(0.001);
  });

  it('agrees with soxi -D on the hand-built WAV and FLAC headers', async () => {
    const cases: [string, Buffer][] = [
      ['list-padded.wav', riff([chunk('fmt ', fmtBody({})), chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00', 'latin1')), chunk('data', Buffer.alloc(8000 * 2))])],
      ['rifx-hand.wav', riff([chunk('fmt ', fmtBody({ rate: 8000 }, true), { big: true }), chunk('data', Buffer.alloc(4000 * 2), { big: true })], 'RIFX')],
      ['extensible-float.wav', riff([chunk('fmt ', fmtBody({ extensible: 3, bits: 32, rate: 22050 })), chunk('data', Buffer.alloc(22050 * 4))])],
      ['hand.flac', flac(44100, 88200)],
    ];
    for (const [name, buf] of cases) {
      const file = join(tmp.dir, name);
      await writeFile(file, buf);
      expect(Math.abs(audioDurationSeconds(buf)! - (await soxDuration(file))), name).toBeLessThan(0.001);
    }
  });

  it('says null for an Ogg Vorbis file sox writes', async () => {
    const file = join(tmp.dir, 'x.ogg');
    await run('sox', ['-V1', '-n', '-r', '16000', '-c', '1', file, 'synth', '1', 'sine', '440']);
    expect(audioDurationSeconds(await readFile(file), 'x.ogg')).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------
// ASR manifests

/** Catches the DatasetError a load throws, so a test can check what the user reads. */
async function datasetError(p: Promise<unknown>): Promise<DatasetError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe('CATAPULT_DATASET_INVALID');
    return err as DatasetError;
  }
  throw new Error('expected the load to fail');
}

describe('loadAsrManifest', () => {
  let tmp: ReturnType<typeof tempDir>;
  const half = pcmWav(8000); // 0.5 s
  const quarter = pcmWav(4000); // 0.25 s
  beforeAll(async () => {
    tmp = tempDir('catapult-manifest-');
    await mkdir(join(tmp.dir, 'clips', 'spk1'), { recursive: true });
    await mkdir(join(tmp.dir, 'clips', 'spk2'), { recursive: true });
    await writeFile(join(tmp.dir, 'clips', 'a.wav'), half);
    await writeFile(join(tmp.dir, 'clips', 'b.wav'), quarter);
    await writeFile(join(tmp.dir, 'clips', 'c.mp3'), Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0]));
    await writeFile(join(tmp.dir, 'clips', 'spk1', '001.wav'), half);
    await writeFile(join(tmp.dir, 'clips', 'spk2', '001.wav'), quarter);
  });
  afterAll(() => tmp.remove());

  async function manifest(name: string, lines: string[]): Promise<string> {
    const file = join(tmp.dir, name);
    await writeFile(file, lines.join('\n'));
    return file;
  }

  it('reads audio, text and ids, with NeMo and Common Voice field names, skipping blank lines and comments', async () => {
    const file = await manifest('good.jsonl', [
      '# made by hand',
      JSON.stringify({ audio: 'clips/a.wav', text: 'Hello world.' }),
      '',
      JSON.stringify({ audio_filepath: 'clips/b.wav', sentence: 'second one', id: 'utt-2' }),
      JSON.stringify({ audio: join(tmp.dir, 'clips', 'c.mp3'), transcript: 'third', duration: 1.75, id: 3 }) + '\r',
    ]);
    const items = await loadAsrManifest(file);
    expect(items.map(({ id, filename, contentType, reference, durationS }) => ({ id, filename, contentType, reference, durationS }))).toEqual([
      { id: 'a', filename: 'a.wav', contentType: 'audio/wav', reference: 'Hello world.', durationS: 0.5 },
      { id: 'utt-2', filename: 'b.wav', contentType: 'audio/wav', reference: 'second one', durationS: 0.25 },
      { id: '3', filename: 'c.mp3', contentType: 'audio/mpeg', reference: 'third', durationS: 1.75 },
    ]);
    expect(items[0]!.audio.equals(half)).toBe(true);
  });

  it('leaves the duration unknown for audio whose header does not say', async () => {
    const items = await loadAsrManifest(await manifest('mp3.jsonl', [JSON.stringify({ audio: 'clips/c.mp3', text: 'x' })]));
    expect(items[0]!.durationS).toBeNull();
  });

  it('resolves audio against audioRoot when given, and keeps only the first `limit` utterances', async () => {
    const file = await manifest('rooted.jsonl', [JSON.stringify({ audio: 'a.wav', text: 'one' }), JSON.stringify({ audio: 'b.wav', text: 'two' })]);
    const items = await loadAsrManifest(file, { audioRoot: join(tmp.dir, 'clips'), limit: 1 });
    expect(items.map((i) => i.id)).toEqual(['a']);
  });

  it('names utterances by their path when base names repeat across folders', async () => {
    const file = await manifest('speakers.jsonl', [JSON.stringify({ audio: 'clips/spk1/001.wav', text: 'one' }), JSON.stringify({ audio: 'clips/spk2/001.wav', text: 'two' })]);
    expect((await loadAsrManifest(file)).map((i) => i.id)).toEqual(['001', 'clips/spk2/001.wav']);
  });

  it('says which line is not JSON', async () => {
    const file = await manifest('badjson.jsonl', [JSON.stringify({ audio: 'clips/a.wav', text: 'ok' }), '', '{"audio": "clips/b.wav", text: "oops"}']);
    const err = await datasetError(loadAsrManifest(file));
    expect(err.message).toMatch(/badjson\.jsonl line 3: not valid JSON/);
    expect(err.message).toContain('{"audio": "clips/a.wav", "text": "hello world"}');
    expect(err.where).toEqual({ file, line: 3 });
  });

  it('says which line lacks its transcript or audio path, and which names are accepted', async () => {
    const noText = await datasetError(loadAsrManifest(await manifest('notext.jsonl', [JSON.stringify({ audio: 'clips/a.wav', text: 'ok' }), JSON.stringify({ audio: 'clips/b.wav' })])));
    expect(noText.message).toMatch(/notext\.jsonl line 2, field "text": has no reference transcript; add "text" \(or "sentence", "transcript"\)/);
    const noAudio = await datasetError(loadAsrManifest(await manifest('noaudio.jsonl', [JSON.stringify({ text: 'hello' })])));
    expect(noAudio.message).toMatch(/noaudio\.jsonl line 1, field "audio": has no audio path; add "audio" \(or "audio_filepath"\)/);
    const notObject = await datasetError(loadAsrManifest(await manifest('array.jsonl', ['["clips/a.wav", "hello"]'])));
    expect(notObject.message).toMatch(/array\.jsonl line 1: expected a JSON object/);
    const badText = await datasetError(loadAsrManifest(await manifest('badtext.jsonl', [JSON.stringify({ audio: 'clips/a.wav', sentence: 42 })])));
    expect(badText.message).toMatch(/line 1, field "sentence": must be a string/);
  });

  it('says which line names an audio file that is not there, and where it looked', async () => {
    const file = await manifest('missing.jsonl', [JSON.stringify({ audio: 'clips/a.wav', text: 'ok' }), JSON.stringify({ audio: 'clips/nope.wav', text: 'gone' })]);
    const err = await datasetError(loadAsrManifest(file));
    expect(err.message).toContain(`missing.jsonl line 2, field "audio": audio file ${join(tmp.dir, 'clips', 'nope.wav')} not found`);
    expect(err.message).toContain(`resolved against ${tmp.dir}`);
    expect(err.where).toEqual({ file, line: 2, field: 'audio' });
  });

  it('names both lines of a duplicate id', async () => {
    const file = await manifest('dup.jsonl', ['# header', JSON.stringify({ audio: 'clips/a.wav', text: 'one', id: 'x' }), JSON.stringify({ audio: 'clips/b.wav', text: 'two', id: 'x' })]);
    const err = await datasetError(loadAsrManifest(file));
    expect(err.message).toMatch(/dup\.jsonl line 3, field "id": id "x" is already used on line 2/);
  });

  it('refuses a bad duration, an empty manifest and a missing one', async () => {
    const bad = await datasetError(loadAsrManifest(await manifest('dur.jsonl', [JSON.stringify({ audio: 'clips/a.wav', text: 'one', duration: '2s' })])));
    expect(bad.message).toMatch(/dur\.jsonl line 1, field "duration": must be a number of seconds/);
    const empty = await datasetError(loadAsrManifest(await manifest('empty.jsonl', ['# nothing here', '', '   '])));
    expect(empty.message).toMatch(/empty\.jsonl: has no utterances/);
    const missing = await datasetError(loadAsrManifest(join(tmp.dir, 'nowhere.jsonl')));
    expect(missing.message).toMatch(/nowhere\.jsonl: manifest not found/);
  });
});

// ---------------------------------------------------------------------------------------------------
// Hugging Face datasets .arrow

const AUDIO_STRUCT = new Struct([new Field('bytes', new Binary(), true), new Field('path', new Utf8(), true)]);

/** The `huggingface` schema metadata `datasets` writes, naming the Audio feature. */
function hfMetadata(features: Record<string, unknown>): Map<string, string> {
  return new Map([['huggingface', JSON.stringify({ info: { features } })]]);
}

function withMetadata(table: Table, metadata: Map<string, string>): Table {
  return new Table(new Schema(table.schema.fields, metadata), table.batches);
}

describe('loadHfArrow', () => {
  let tmp: ReturnType<typeof tempDir>;
  const clips = [pcmWav(16000), pcmWav(8000, { rate: 16000 }), flac(48000, 72000)];
  const sentences = ['The first sentence.', 'second', 'a third, in FLAC'];
  beforeAll(() => {
    tmp = tempDir('catapult-arrow-');
  });
  afterAll(() => tmp.remove());

  /** A Common Voice split as `datasets` writes it: Arrow stream, struct audio, `sentence`, and speaker ids that repeat. */
  function commonVoiceTable(): Table {
    const paths = ['common_voice_en_101.wav', 'common_voice_en_102.wav', 'common_voice_en_103.flac'];
    const table = new Table({
      client_id: vectorFromArray(['spk-a', 'spk-a', 'spk-b'], new Utf8()),
      path: vectorFromArray(paths, new Utf8()),
      audio: vectorFromArray(
        clips.map((c, i) => ({ bytes: new Uint8Array(c), path: paths[i]! })),
        AUDIO_STRUCT,
      ),
      sentence: vectorFromArray(sentences, new Utf8()),
      up_votes: vectorFromArray([2, 3, 4], new Int32()),
    });
    return withMetadata(table, hfMetadata({ audio: { sampling_rate: 48000, _type: 'Audio' }, sentence: { dtype: 'string', _type: 'Value' } }));
  }

  function expectCommonVoiceItems(items: AudioItem[]): void {
    expect(items.map(({ id, filename, contentType, reference, durationS }) => ({ id, filename, contentType, reference, durationS }))).toEqual([
      { id: 'common_voice_en_101', filename: 'common_voice_en_101.wav', contentType: 'audio/wav', reference: sentences[0], durationS: 1 },
      { id: 'common_voice_en_102', filename: 'common_voice_en_102.wav', contentType: 'audio/wav', reference: sentences[1], durationS: 0.5 },
      { id: 'common_voice_en_103', filename: 'common_voice_en_103.flac', contentType: 'audio/flac', reference: sentences[2], durationS: 1.5 },
    ]);
    items.forEach((item, i) => expect(item.audio.equals(clips[i]!)).toBe(true));
  }

  it('reads a datasets Arrow stream with a struct audio column back to the same utterances', async () => {
    const file = join(tmp.dir, 'common_voice.arrow');
    const bytes = tableToIPC(commonVoiceTable(), 'stream');
    // The stream format starts with a continuation marker, not the ARROW1 magic of the file format.
    expect(Buffer.from(bytes).readUInt32LE(0)).toBe(0xffffffff);
    await writeFile(file, bytes);
    expectCommonVoiceItems(await loadHfArrow(file));
    expect((await loadHfArrow(file, { limit: 2 })).map((i) => i.id)).toEqual(['common_voice_en_101', 'common_voice_en_102']);
  });

  it('reads the Arrow file format too', async () => {
    const file = join(tmp.dir, 'common_voice_file.arrow');
    await writeFile(file, tableToIPC(commonVoiceTable(), 'file'));
    expectCommonVoiceItems(await loadHfArrow(file));
  });

  it('reads a plain binary audio column and a `text` column, numbering rows when nothing names them', async () => {
    const file = join(tmp.dir, 'binary.arrow');
    const table = new Table({
      speech: vectorFromArray(clips.map((c) => new Uint8Array(c)), new Binary()),
      text: vectorFromArray(sentences, new Utf8()),
    });
    await writeFile(file, tableToIPC(table, 'stream'));
    const items = await loadHfArrow(file, { audioColumn: 'speech' });
    expect(items.map(({ id, filename, contentType, reference, durationS }) => ({ id, filename, contentType, reference, durationS }))).toEqual([
      { id: '0', filename: '0.wav', contentType: 'audio/wav', reference: sentences[0], durationS: 1 },
      { id: '1', filename: '1.wav', contentType: 'audio/wav', reference: sentences[1], durationS: 0.5 },
      { id: '2', filename: '2.flac', contentType: 'audio/flac', reference: sentences[2], durationS: 1.5 },
    ]);
    items.forEach((item, i) => expect(item.audio.equals(clips[i]!)).toBe(true));
  });

  it('finds the audio column through the datasets metadata when it is not called `audio`', async () => {
    const file = join(tmp.dir, 'renamed.arrow');
    const table = new Table({
      clip: vectorFromArray([{ bytes: new Uint8Array(clips[0]!), path: 'x.wav' }], AUDIO_STRUCT),
      transcription: vectorFromArray(['hello'], new Utf8()),
    });
    await writeFile(file, tableToIPC(withMetadata(table, hfMetadata({ clip: { _type: 'Audio' }, transcription: { _type: 'Value' } })), 'stream'));
    const [item] = await loadHfArrow(file);
    expect(item).toMatchObject({ id: 'x', filename: 'x.wav', reference: 'hello', durationS: 1 });
  });

  it('reads audio from the path beside the .arrow file when the bytes are null, and names the row when it is missing', async () => {
    const dir = join(tmp.dir, 'paths');
    await mkdir(join(dir, 'clips'), { recursive: true });
    await writeFile(join(dir, 'clips', 'one.wav'), clips[1]!);
    const file = join(dir, 'data.arrow');
    const table = new Table({
      audio: vectorFromArray(
        [
          { bytes: new Uint8Array(clips[0]!), path: null },
          { bytes: null, path: 'clips/one.wav' },
          { bytes: null, path: 'clips/two.wav' },
        ],
        AUDIO_STRUCT,
      ),
      sentence: vectorFromArray(['a', 'b', 'c'], new Utf8()),
    });
    await writeFile(file, tableToIPC(table, 'stream'));
    const items = await loadHfArrow(file, { limit: 2 });
    expect(items[1]).toMatchObject({ id: '1', filename: 'one.wav', reference: 'b', durationS: 0.5 });
    expect(items[1]!.audio.equals(clips[1]!)).toBe(true);
    const err = await datasetError(loadHfArrow(file));
    expect(err.message).toContain(`data.arrow row 2, column "audio": has no audio bytes and its path ${join(dir, 'clips', 'two.wav')} is not found`);
    expect(err.where).toEqual({ file, row: 2, field: 'audio' });
  });

  it('lists the columns there are when no text column is found', async () => {
    const file = join(tmp.dir, 'notext.arrow');
    const table = new Table({
      audio: vectorFromArray([{ bytes: new Uint8Array(clips[0]!), path: 'a.wav' }], AUDIO_STRUCT),
      words: vectorFromArray(['hello'], new Utf8()),
    });
    await writeFile(file, tableToIPC(table, 'stream'));
    const err = await datasetError(loadHfArrow(file));
    expect(err.message).toMatch(/notext\.arrow, column "sentence": no text column found \(looked for any of sentence, text, transcription, transcript, normalized_text\)/);
    expect(err.message).toContain('its columns are audio (Struct<{bytes:Binary, path:Utf8}>), words (Utf8)');
    const named = await datasetError(loadHfArrow(file, { textColumn: 'normalized' }));
    expect(named.message).toMatch(/column "normalized": no text column found \(looked for "normalized"\); its columns are audio/);
    expect((await loadHfArrow(file, { textColumn: 'words' }))[0]!.reference).toBe('hello');
  });

  it('says which row has a null transcript, and when the audio column is missing or of the wrong type', async () => {
    const file = join(tmp.dir, 'nulls.arrow');
    const table = new Table({
      audio: vectorFromArray([new Uint8Array(clips[0]!), new Uint8Array(clips[1]!)], new Binary()),
      sentence: vectorFromArray(['fine', null], new Utf8()),
      n: vectorFromArray([1, 2], new Int32()),
    });
    await writeFile(file, tableToIPC(table, 'stream'));
    expect((await datasetError(loadHfArrow(file))).message).toMatch(/nulls\.arrow row 1, column "sentence": has no transcript \(null\)/);
    expect((await datasetError(loadHfArrow(file, { audioColumn: 'wav' }))).message).toMatch(/nulls\.arrow, column "wav": no such audio column; its columns are audio \(Binary\), sentence \(Utf8\), n \(Int32\)/);
    expect((await datasetError(loadHfArrow(file, { audioColumn: 'n' }))).message).toMatch(/nulls\.arrow, column "n": has type Int32; expected a struct \{bytes, path\}/);
  });

  it('refuses a file that is not Arrow', async () => {
    const file = join(tmp.dir, 'fake.arrow');
    await writeFile(file, '{"audio": "a.wav", "text": "this is JSON"}\n');
    expect((await datasetError(loadHfArrow(file))).message).toMatch(/fake\.arrow: is not an Arrow IPC stream or file/);
    expect((await datasetError(loadHfArrow(join(tmp.dir, 'absent.arrow')))).message).toMatch(/absent\.arrow: Arrow file not found/);
  });

  it('reads a save_to_disk folder in the order its state.json lists the data files', async () => {
    const dir = join(tmp.dir, 'saved');
    await mkdir(dir);
    const part = (from: number, to: number) =>
      tableToIPC(
        new Table({
          audio: vectorFromArray(clips.slice(from, to).map((c) => ({ bytes: new Uint8Array(c), path: null })), AUDIO_STRUCT),
          sentence: vectorFromArray(sentences.slice(from, to), new Utf8()),
        }),
        'stream',
      );
    await writeFile(join(dir, 'data-00000-of-00002.arrow'), part(0, 2));
    await writeFile(join(dir, 'data-00001-of-00002.arrow'), part(2, 3));
    await writeFile(join(dir, 'state.json'), JSON.stringify({ _data_files: [{ filename: 'data-00000-of-00002.arrow' }, { filename: 'data-00001-of-00002.arrow' }] }));
    const items = await loadHfArrow(dir);
    expect(items.map((i) => [i.id, i.reference])).toEqual([
      ['0', sentences[0]],
      ['1', sentences[1]],
      ['2', sentences[2]],
    ]);
  });
});
