import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
