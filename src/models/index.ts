export {
  type FormatDetector,
  MODEL_INTAKE_TASK,
  MODEL_STATES,
  type Model,
  type ModelOverride,
  type ModelState,
  type ModelUsage,
  ModelService,
  type RegisterModelInput,
  modelMigrations,
  resolveSource,
} from './models.js';
export { DESCRIPTOR_VERSION, type ModelDescriptor, descriptorJsonSchema, modelDescriptorSchema } from './descriptor.js';
export { type EstimateOptions, type ResourceEstimate, estimateResources } from './estimate.js';
export { type Finding, SCANNER_VERSION, SEVERITIES, type ScanReport, type Severity, scanModel } from './scan.js';
export { analyzeModel } from './analyze.js';
export { FolderWatcher, type WatchOptions, contentHash } from './watch.js';
export { estimateSchema, modelScanSchema, modelSchema } from './schemas.js';
