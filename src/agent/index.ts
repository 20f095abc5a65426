export { Agent, type AgentOptions, agentStateFile } from './agent.js';
export { BenchWorker, type BenchWorkerOptions } from './bench.js';
export { HttpTaskTransport, type HttpTaskTransportOptions } from './tasks.js';
export { AgentClient, ServerError } from './client.js';
export { NoopExecutor, type ReplicaExecutor, type ReplicaStatus } from './executor.js';
export {
  type CommandRunner,
  FakeGpuProbe,
  type FakeGpuSpec,
  type GpuProbe,
  NVIDIA_QUERY_FIELDS,
  NVIDIA_SMI_ARGS,
  ROCM_SMI_ARGS,
  SystemGpuProbe,
  execRunner,
  fakeGpus,
  parseFakeGpus,
  parseNvidiaSmiCsv,
  parseRocmSmiJson,
} from './gpus.js';
export { type LogBatch, ProcessExecutor, type ProcessExecutorOptions, type ProcessReplicaStatus } from './processExecutor.js';
