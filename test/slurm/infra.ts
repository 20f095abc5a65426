import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

/** Where scripts/services/sshd.sh keeps its keys. */
export const SSHD_DIR = '/var/tmp/catapult-test-infra/sshd';
export const SSHD_PORT = 2222;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Why the real Slurm and sshd these tests need are not usable, or undefined when they are. The tests
 * fail with this message (they skip only under CATAPULT_TEST_QUICK=1).
 */
export async function slurmInfraProblem(): Promise<string | undefined> {
  const problems: string[] = [];
  try {
    const out = execFileSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8', timeout: 10_000 });
    if (!/idle|mix|alloc/.test(out)) problems.push(`Slurm's node is not up (sinfo says '${out.trim()}'): run scripts/services/slurm.sh`);
  } catch (err) {
    problems.push(`Slurm is not running (${(err as Error).message.split('\n')[0]}): run scripts/services/slurm.sh`);
  }
  if (!(await listening(SSHD_PORT))) problems.push(`no sshd on 127.0.0.1:${SSHD_PORT}: run scripts/services/sshd.sh`);
  return problems.length ? problems.join('; ') : undefined;
}


/** The cluster body for the local single-node Slurm behind the local sshd. */
export function localCluster(name: string, workDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    host: '127.0.0.1',
    port: SSHD_PORT,
    user: 'root',
    privateKey: readFileSync(`${SSHD_DIR}/key`, 'utf8'),
    hostKey: readFileSync(`${SSHD_DIR}/hostkey.pub`, 'utf8'),
    workDir,
    pollIntervalMs: 500,
    ...extra,
  };
}

export function squeueNames(): string[] {
  return execFileSync('squeue', ['-h', '-o', '%j'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

const NODE_LOCK = '/var/tmp/catapult-test-infra/slurm-node.lock';

/**
 * Holds the test Slurm's one node for a suite: its 2 CPUs fit a service and one client, so suites
 * that submit jobs take turns instead of queueing behind each other's jobs (Vitest runs two files at
 * once). A lock left by a process that died is taken over. Returns the release function.
 */
export async function holdSlurmNode(timeoutMs = 600_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(NODE_LOCK);
      writeFileSync(`${NODE_LOCK}/pid`, String(process.pid));
      return () => rmSync(NODE_LOCK, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(`${NODE_LOCK}/pid`, { encoding: 'utf8', flag: 'a+' }) || 0);
      let alive = false;
      try {
        if (owner > 0) process.kill(owner, 0);
        alive = owner > 0;
      } catch {
        alive = false;
      }
      if (!alive && owner > 0) rmSync(NODE_LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`the test Slurm node stayed held by pid ${owner} for ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** In a suite that submits jobs: hold the node for the whole suite (declare it first, so it is released last). */
export function takeTurnsOnSlurmNode(): void {
  let release: (() => void) | undefined;
  beforeAll(async () => {
    release = await holdSlurmNode();
  }, 600_000);
  afterAll(() => release?.());
}
