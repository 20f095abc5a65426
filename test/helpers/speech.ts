/**
 * Real speech for ASR tests: espeak-ng says known sentences, sox turns them into 16 kHz mono 16-bit
 * WAV, and pocketsphinx (through examples/asr/pocketsphinx-server.mjs) transcribes them. When a tool
 * is missing, the suite fails naming the Debian package (scripts/test-setup.sh installs it), or in
 * quick mode is skipped with that reason.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { describeWithService } from './services.js';

/** Where Debian's pocketsphinx-en-us puts the acoustic model, dictionary and language model. */
export const POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

export type SpeechTool = 'espeak-ng' | 'sox' | 'pocketsphinx';

const TOOLS: Record<SpeechTool, { present: () => boolean; what: string; packages: string }> = {
  'espeak-ng': { present: () => onPath('espeak-ng'), what: 'espeak-ng', packages: 'espeak-ng' },
  sox: { present: () => onPath('sox') && onPath('soxi'), what: 'sox and soxi', packages: 'sox' },
  pocketsphinx: {
    present: () => onPath('pocketsphinx_continuous') && existsSync(join(POCKETSPHINX_MODEL_DIR, 'en-us', 'mdef')),
    what: `pocketsphinx_continuous and the en-us model (${POCKETSPHINX_MODEL_DIR})`,
    packages: 'pocketsphinx pocketsphinx-en-us',
  },
};

function onPath(program: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // Not in this folder.
    }
  }
  return false;
}

/** What is missing of `tools`, as one sentence with the apt-get line that installs it; null when all are there. */
export function missingSpeechTools(tools: readonly SpeechTool[] = ['espeak-ng', 'sox', 'pocketsphinx']): string | null {
  const missing = tools.filter((t) => !TOOLS[t].present());
  if (missing.length === 0) return null;
  const packages = missing.map((t) => TOOLS[t].packages).join(' ');
  return `${missing.map((t) => TOOLS[t].what).join(', ')} not found; install with: apt-get install -y ${packages}`;
}

/** `describe` for suites that need real speech tools (see `describeWithService`). */
export function describeWithSpeech(name: string, tools: readonly SpeechTool[], fn: () => void): void {
  describeWithService(name, missingSpeechTools(tools), fn);
}

/** Runs a program to completion; rejects with its stderr when it fails. */
export function run(program: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${program} could not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${program} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

/** `soxi -D`: the duration sox reads from a file's header, in seconds. */
export async function soxDuration(file: string): Promise<number> {
  return Number((await run('soxi', ['-D', file])).stdout.trim());
}

/**
 * Speaks each sentence with espeak-ng (US English, 140 words a minute) into `dir/<id>.wav` as 16 kHz
 * mono 16-bit PCM, byte for byte the same on every run, and writes `dir/manifest.jsonl` with one `{audio, text, id}` line each.
 */
export async function synthesizeCorpus(dir: string, sentences: { id: string; text: string }[]): Promise<{ manifest: string; files: string[] }> {
  await mkdir(dir, { recursive: true });
  for (const s of sentences) {
    // Ids become file names; text is an argument, and espeak-ng would read a leading '-' as an option.
    if (!/^[\w.-]+$/.test(s.id)) throw new Error(`sentence id ${JSON.stringify(s.id)} must be a plain file name ([A-Za-z0-9_.-])`);
    if (s.text.trimStart().startsWith('-')) throw new Error(`sentence ${s.id} must not start with '-'`);
  }
  const files = await Promise.all(
    sentences.map(async (s) => {
      const raw = join(dir, `${s.id}.espeak.wav`);
      const out = join(dir, `${s.id}.wav`);
      await run('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', raw, s.text]);
      // espeak-ng speaks at 22,050 Hz; pocketsphinx's en-us model wants 16 kHz. -D: sox dithers with
      // fresh random noise by default, and free-form pocketsphinx then hears each run a little differently.
      await run('sox', ['-D', raw, '-r', '16000', '-c', '1', '-b', '16', out]);
      await rm(raw);
      return out;
    }),
  );
  const manifest = join(dir, 'manifest.jsonl');
  await writeFile(manifest, sentences.map((s) => JSON.stringify({ audio: `${s.id}.wav`, text: s.text, id: s.id })).join('\n') + '\n');
  return { manifest, files };
}
