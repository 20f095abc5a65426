import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { packageInfo } from '../util/index.js';
import { ApiError } from './client.js';
import { registerAgent } from './commands/agent.js';
import { registerBench } from './commands/bench.js';
import { registerDeployments } from './commands/deployments.js';
import { registerGateway } from './commands/gateway.js';
import { registerKeys } from './commands/keys.js';
import { registerRuntime } from './commands/runtime.js';
import { registerSlurm } from './commands/slurm.js';
import { registerUp } from './commands/up.js';
import { registerWorkers } from './commands/workers.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('catapult')
    .description('Self-hosted control plane for ML inference')
    .version(packageInfo().version, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  registerUp(program);
  registerGateway(program);
  registerKeys(program);
  registerDeployments(program);
  registerAgent(program);
  registerWorkers(program);
  registerRuntime(program);
  registerBench(program);
  registerSlurm(program);
  program
    .command('version')
    .description('Print the version')
    .action(() => {
      process.stdout.write(`catapult ${packageInfo().version}\n`);
    });
  return program;
}

/** Runs the CLI; errors become one clear message and exit code 1 (2 for usage errors). */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof ApiError) {
      const lines = [`error: ${err.message} (${err.code}, HTTP ${err.status})`];
      for (const e of err.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
      if (err.hint) lines.push(`hint: ${err.hint}`);
      process.stderr.write(`${lines.join('\n')}\n`);
      process.exit(1);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
