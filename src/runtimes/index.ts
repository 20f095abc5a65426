export {
  type GpuVendor,
  type ResourceHints,
  type RuntimeBuildContext,
  type RuntimeDefinition,
  type RuntimeKind,
  type RuntimeLaunch,
  type RuntimeProtocol,
  RUNTIME_PROTOCOLS,
} from './types.js';
export { getRuntime, listRuntimes, runtimesForFormat } from './registry.js';
export { onnxRuntime, simulatorRuntime, onnxOptionsSchema, type OnnxRuntimeOptions } from './builtin.js';
export { llamacppRuntime, sglangRuntime, tgiRuntime, tritonRuntime, vllmRuntime } from './templates.js';
export { customRuntime, customOptionsSchema, substitutePlaceholders, type CustomRuntimeOptions } from './custom.js';
export { gpuVisibilityEnv, defaultCatapultCommand } from './common.js';
export { registerRuntimeCommands } from './cli.js';
export { type SpawnedReplica, freePort, spawnRuntime } from './testing.js';
export { type DetectedFormat, MODEL_FORMATS, type ModelFormat, detectModelFormat } from './formats.js';
export { type OnnxServerOptions, type RunningServer, startOnnxServer } from './onnx/server.js';
export { OIP_DATATYPES, type OipDatatype } from './onnx/tensors.js';
export {
  OnnxDataType,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
  encodeOnnxModel,
  floatTensor,
  int64Tensor,
} from './onnx/proto.js';
export { type RunningSimulator, type SimulatorServerOptions, startSimulator } from './simulator/server.js';
export {
  SIMULATOR_OPTION_KEYS,
  type SimulatorOptions,
  type SimulatorOptionsInput,
  optionFlag,
  simulatorOptionsSchema,
} from './simulator/options.js';
export {
  IRIS_CLASSES,
  IRIS_FEATURES,
  IRIS_MODEL_NAME,
  type IrisDataset,
  type IrisMetadata,
  buildIrisOnnx,
  irisPaths,
  loadIrisDataset,
  makeIrisModel,
  trainIris,
} from './demo/iris.js';
export { type DemoDeployment, demoDeployments } from './demo/demos.js';
