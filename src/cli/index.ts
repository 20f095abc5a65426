import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { packageInfo } from '../util/index.js';
import { ApiError } from './client.js';
import { endQuietlyOnClosedPipe } from './format.js';

/**
 * The command groups, in the order help lists them, with the top-level commands each adds. A group's
 * module (and what it imports: the server, the agent, the runtimes) loads only when one of its
 * commands runs, so `catapult deployments ls` does not pay for starting a control plane.
 */
const GROUPS: { commands: string[]; load: () => Promise<(program: Command) => void> }[] = [
  { commands: ['up', 'server'], load: async () => (await import('./commands/up.js')).registerUp },
  { commands: ['gateway'], load: async () => (await import('./commands/gateway.js')).registerGateway },
  { commands: ['keys'], load: async () => (await import('./commands/keys.js')).registerKeys },
  { commands: ['models', 'deploy', 'deployments'], load: async () => (await import('./commands/deployments.js')).registerDeployments },
  { commands: ['agent'], load: async () => (await import('./commands/agent.js')).registerAgent },
  { commands: ['workers', 'join-token'], load: async () => (await import('./commands/workers.js')).registerWorkers },
  { commands: ['runtime'], load: async () => (await import('./commands/runtime.js')).registerRuntime },
  { commands: ['bench'], load: async () => (await import('./commands/bench.js')).registerBench },
  { commands: ['slurm'], load: async () => (await import('./commands/slurm.js')).registerSlurm },
];

/**
 * Builds the command line for `argv`: only the group of the command named there, or every group
 * when none is named (help, version, a typo that deserves suggestions).
 */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const named = argv.slice(2).find((a) => !a.startsWith('-'));
  const only = GROUPS.find((g) => named !== undefined && g.commands.includes(named));
  const registers = await Promise.all((only ? [only] : GROUPS).map((g) => g.load()));
  const program = new Command();
  program
    .name('catapult')
    .description('Self-hosted control plane for ML inference')
    .version(packageInfo().version, '-V, --version')
    // Options before a subcommand belong to catapult, after it to the subcommand: `models add --version 2`
    // is the model's version, not a request for Catapult's.
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  for (const register of registers) register(program);
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
  endQuietlyOnClosedPipe();
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    // An unreachable server (status 0) has no code worth showing: its message says what to do.
    if (err instanceof ApiError && err.status !== 0) {
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
