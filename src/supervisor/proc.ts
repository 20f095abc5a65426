import { readFileSync, readdirSync } from 'node:fs';

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The kernel's start time of a process (clock ticks since boot, field 22 of /proc/PID/stat). A pid
 * with a different start time is a different process that reused the number.
 */
export function processStartTime(pid: number): number | undefined {
  const f = statFields(pid);
  const v = Number(f?.[19]);
  return f && Number.isFinite(v) ? v : undefined;
}

/** Whether the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Pids of the live processes in a process group. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') out.push(Number(name));
  }
  return out;
}

/** Sends a signal to a whole process group; true when the group existed. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
