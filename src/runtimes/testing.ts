import { spawn } from 'node:child_process';
import { inheritedEnvironment } from '../config/index.js';
import { freePort, packageInfo } from '../util/index.js';
import type { RuntimeBuildContext, RuntimeDefinition, RuntimeLaunch } from './types.js';

/**
 * Test support: runs a runtime's real command as a child process, the way a replica runs. From the
 * TypeScript sources, built-ins start from the sources too (see defaultCatapultCommand).
 */

export { freePort };

export interface SpawnedReplica {
  url: string;
  launch: RuntimeLaunch;
  /** Milliseconds from spawn until the health path answered 200. */
  readyAfterMs: number;
  output(): string;
  stop(): Promise<void>;
}

/** Builds the runtime's command, spawns it, and waits until its health path answers 200. */
export async function spawnRuntime(
  def: RuntimeDefinition,
  options: Record<string, unknown> = {},
  ctx: Partial<RuntimeBuildContext> = {},
): Promise<SpawnedReplica> {
  const port = await freePort();
  const launch = def.buildCommand({
    modelPath: '',
    modelName: def.name === 'simulator' ? 'simulator' : 'model',
    host: '127.0.0.1',
    port,
    gpus: [],
    options,
    ...ctx,
  });
  const [cmd, ...args] = launch.argv;
  const started = performance.now();
  const child = spawn(cmd!, args, { env: { ...inheritedEnvironment(), ...launch.env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: packageInfo().root });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = started + launch.readinessTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${def.name} exited with ${child.exitCode} before it was ready:\n${out}`);
    try {
      const res = await fetch(url + launch.healthPath);
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${def.name} was not ready within ${launch.readinessTimeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url, launch, readyAfterMs: performance.now() - started, output: () => out, stop };
}
