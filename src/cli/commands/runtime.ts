import type { Command } from 'commander';
import { registerRuntimeCommands } from '../../runtimes/index.js';

/** `catapult runtime …`: serve a built-in runtime (onnx, simulator) or inspect runtimes. */
export function registerRuntime(program: Command): void {
  registerRuntimeCommands(program);
}
