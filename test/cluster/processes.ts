import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, childEnv } from '../helpers/cli.js';

/** The CLI entry run from sources through tsx, so these tests need no build. */
const ENTRY = join(ROOT, 'test', 'cluster', 'catapult.ts');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `catapult ARGS` as a real process. */
export function startCatapult(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', TSX, ENTRY, ...args], { env: childEnv(env), cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`catapult ${args.join(' ')} exited (${child.exitCode}) before printing ${re}\n${out}\n${err}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}\nstdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** Runs `catapult ARGS` to completion. */
export async function runCatapult(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startCatapult(args, env);
  const code = await new Promise<number | null>((resolve) => p.child.on('exit', (c) => resolve(c)));
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Starts `catapult agent` with fake GPUs and waits until it has joined. */
export async function startAgent(o: { server: string; token?: string; name: string; dataDir: string; gpus?: string; extra?: string[] }): Promise<CliProcess> {
  // These tests exercise the registry and scheduler, not model servers: replicas are only reported.
  const args = ['agent', '--server', o.server, '--name', o.name, '--data-dir', o.dataDir, '--log-level', 'warn', '--replicas', 'noop'];
  if (o.token) args.push('--token', o.token);
  if (o.gpus) args.push('--fake-gpus', o.gpus);
  const p = startCatapult([...args, ...(o.extra ?? [])]);
  await p.waitFor(/Agent \S+ (joined|reconnected to)/);
  return p;
}

/** Polls `check` until it returns something other than undefined/false, or fails after the deadline. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
