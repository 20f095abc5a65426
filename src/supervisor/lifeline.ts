import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { groupMembers, isAlive, processStartTime, signalGroup } from './proc.js';

/**
 * The lifeline: replicas that end with the process that started them, however it ends (`kill -9`
 * included). A small watcher process, in its own process group, holds the read end of a pipe whose
 * write end only the owner holds; the kernel closes it when the owner dies, and the watcher then
 * stops every replica recorded in the supervisor's directory. `catapult up` uses it (one program by
 * promise); a standalone `catapult agent` does not, so its replicas outlive a restart and are adopted.
 */

interface RecordedReplica {
  pid: number;
  startTime: number;
  stopGraceMs: number;
}

/** Replicas recorded in `dir` (their `state.json`) whose process is still the one that was started. */
function liveReplicas(dir: string): RecordedReplica[] {
  const out: RecordedReplica[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      const state = JSON.parse(readFileSync(join(dir, name, 'state.json'), 'utf8')) as { pid: number; startTime: number; spec?: { stopGraceMs?: number } };
      // A pid with another start time is a stranger that reused the number.
      if (isAlive(state.pid) && processStartTime(state.pid) === state.startTime) {
        out.push({ pid: state.pid, startTime: state.startTime, stopGraceMs: state.spec?.stopGraceMs ?? 10_000 });
      }
    } catch {
      // No state file (stopped) or one being rewritten: nothing to stop.
    }
  }
  return out;
}

/** Stops every replica recorded in `dir`: SIGTERM to each group, SIGKILL to what is left after its grace period. */
export async function stopRecordedReplicas(dir: string): Promise<number> {
  const replicas = liveReplicas(dir);
  for (const r of replicas) signalGroup(r.pid, 'SIGTERM');
  const deadline = Date.now() + Math.max(0, ...replicas.map((r) => r.stopGraceMs));
  while (replicas.some((r) => groupMembers(r.pid).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const r of replicas) if (groupMembers(r.pid).length > 0) signalGroup(r.pid, 'SIGKILL');
  return replicas.length;
}

/** The watcher's body (run by lifelineMain): waits for its stdin to close, then stops the replicas. */
export function watchLifeline(dir: string): void {
  process.stdin.resume();
  process.stdin.on('data', () => undefined);
  // SIGINT and SIGTERM aimed at a terminal's group must not take the watcher away before its owner.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.stdin.on('close', () => {
    stopRecordedReplicas(dir).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

/**
 * Starts the watcher for the replicas in `dir`, tied to this process. It holds no event-loop
 * reference here: this process exits as it would without it.
 */
export function startLifeline(dir: string): { pid: number | undefined } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  const main = fileURLToPath(new URL(`./lifelineMain.${ts ? 'ts' : 'js'}`, here));
  // From sources (tests, `npm run dev`) the watcher runs through tsx like the rest.
  const tsx = ts ? ['--import', pathToFileURL(join(fileURLToPath(new URL('../../', here)), 'node_modules', 'tsx', 'dist', 'loader.mjs')).href] : [];
  const child = spawn(process.execPath, [...tsx, main, dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.unref();
  // The write end stays open for this process's life and is never written; unref keeps it from holding the loop.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.on('error', () => undefined);
  return { pid: child.pid };
}
