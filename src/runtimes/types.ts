import type { z } from 'zod';
import type { ModelFormat } from './formats.js';

/** How clients talk to a replica: OpenAI-compatible `/v1`, KServe v2 / Open Inference Protocol `/v2`, or anything over HTTP. */
export type RuntimeProtocol = 'openai' | 'kserve-v2' | 'http';
export const RUNTIME_PROTOCOLS = ['openai', 'kserve-v2', 'http'] as const satisfies readonly RuntimeProtocol[];

export type GpuVendor = 'nvidia' | 'amd';

/** Where a runtime comes from: served by Catapult itself, a template for an engine installed separately, or any command. */
export type RuntimeKind = 'builtin' | 'template' | 'custom';

/** What a replica needs from the machine it runs on, so the scheduler can place it. */
export interface ResourceHints {
  /** `required`: refuses to run without one; `optional`: uses GPUs given, else CPU; `none`: ignores them. */
  gpu: 'none' | 'optional' | 'required';
  /** CPU cores a replica wants by default. */
  cpu: number;
  /** Memory a replica wants by default, besides the model itself, in bytes. */
  memoryBytes: number;
}

/**
 * Everything a runtime needs to build the command of one replica. Nothing here says where the replica
 * runs (a local process, a Slurm job, a Kubernetes pod): the backend that starts it supplies the paths,
 * ports and GPU indices as they are seen from inside the replica.
 */
export interface RuntimeBuildContext {
  /** Path of the model file or directory, as seen by the replica. Empty for runtimes that need no model. */
  modelPath: string;
  /** Name clients use for the model (OpenAI `model`, OIP `/v2/models/{name}`). */
  modelName: string;
  /** Port the replica listens on for its protocol. */
  port: number;
  /** Address the replica binds to. */
  host: string;
  /** Indices of the GPUs assigned to the replica; empty for CPU. */
  gpus: number[];
  /** Vendor of those GPUs; decides CUDA_VISIBLE_DEVICES or HIP_VISIBLE_DEVICES. Default nvidia. */
  gpuVendor?: GpuVendor;
  /** Extra ports a runtime declared in `extraPorts`, by name (e.g. Triton's `grpc`, `metrics`). */
  ports?: Record<string, number>;
  /** Extra command-line arguments appended verbatim. */
  args?: string[];
  /** Runtime-specific options, validated by the runtime's `options` schema. */
  options?: Record<string, unknown>;
  /**
   * The command that runs Catapult where the replica runs, for built-in runtimes; `runtime onnx …`
   * is appended. Defaults to this Node binary and this installation's compiled runtime entry point
   * (`dist/src/runtimes/main.js`); elsewhere `['catapult']` (the installed CLI) works too.
   */
  catapultCommand?: string[];
}

/** What a runtime produces for one replica: the process to start and how to tell it is ready. */
export interface RuntimeLaunch {
  /** Program and arguments, executed directly (never through a shell). */
  argv: string[];
  /** Environment variables to add to the replica's environment. */
  env: Record<string, string>;
  protocol: RuntimeProtocol;
  /** Path that answers 200 once the replica can serve requests. */
  healthPath: string;
  /** How long to wait for the health path before declaring the start failed. */
  readinessTimeoutMs: number;
}

/** A declarative description of how one kind of model server is run. */
export interface RuntimeDefinition {
  name: string;
  kind: RuntimeKind;
  description: string;
  protocol: RuntimeProtocol;
  healthPath: string;
  readinessTimeoutMs: number;
  resources: ResourceHints;
  /** Model formats the runtime serves; `any` when it does not read the model (simulator, custom). */
  formats: readonly ModelFormat[] | 'any';
  /** Whether a deployment must name a model for it. */
  requiresModel: boolean;
  /** Names of ports besides the main one that `buildCommand` wants in `ctx.ports`. */
  extraPorts: readonly string[];
  /** The executable the runtime needs on the replica's machine, for a clear error when it is missing. */
  executable?: string;
  /** Schema of `ctx.options`; unknown keys are rejected. */
  options: z.ZodType<Record<string, unknown>>;
  /** The exact command line and environment for one replica. Throws CATAPULT_RUNTIME_OPTIONS_INVALID on bad options. */
  buildCommand(ctx: RuntimeBuildContext): RuntimeLaunch;
}
