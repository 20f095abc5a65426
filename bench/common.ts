import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench files run from dist/bench/NAME/). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'catapult') return dir;
    } catch {
      // keep walking up
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the catapult repository root');
})();

export const BIN = join(ROOT, 'bin', 'catapult.js');

export interface Goal {
  value: number;
  target: number;
  met: boolean;
  unit?: string;
  /** `max`: value must stay at or below target; `min`: at or above. */
  direction: 'max' | 'min';
}

export function goal(value: number, target: number, direction: 'max' | 'min', unit?: string): Goal {
  const rounded = Math.round(value * 1000) / 1000;
  return { value: rounded, target, met: direction === 'max' ? value <= target : value >= target, direction, ...(unit ? { unit } : {}) };
}

/** Prints the benchmark's result as the last line of output. */
export function report(result: { bench: string; goals: Record<string, Goal>; [k: string]: unknown }): void {
  for (const [name, g] of Object.entries(result.goals)) {
    const cmp = g.direction === 'max' ? '<=' : '>=';
    process.stdout.write(`goal ${name}: ${g.value}${g.unit ? ` ${g.unit}` : ''} (target ${cmp} ${g.target}) ${g.met ? 'MET' : 'MISSED'}\n`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Total CPU time (user + system) of a process in seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

export function spawnNode(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether a command is on the PATH. */
export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Debian puts nginx in /usr/sbin, which is not on every user's PATH.
export const NGINX = which('nginx') ? 'nginx' : '/usr/sbin/nginx';

/**
 * nginx as an anchor: one worker process, no access log, everything in a scratch directory, the
 * caller's `http { }` contents (servers, upstreams). Resolves once it answers on `port`.
 */
export async function startNginx(dir: string, port: number, http: string): Promise<ChildProcess> {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const child = spawn(NGINX, ['-p', dir, '-c', file, '-g', 'daemon off; user root;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${err}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' });
      return child;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not listen: ${err}`);
      await sleep(50);
    }
  }
}
