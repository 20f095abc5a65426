/**
 * A light entry point for the built-in runtimes: `node dist/src/runtimes/main.js runtime onnx …` runs
 * the same command as `catapult runtime onnx …` but loads only this module, not the control plane,
 * so a replica is serving a few hundred milliseconds after it is spawned.
 */
import { Command, CommanderError } from 'commander';
import { registerRuntimeCommands } from './cli.js';

const program = new Command('catapult').exitOverride().showHelpAfterError();
registerRuntimeCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
