export { type ArrivalProcess, type ScheduleLimits, arrivalOffsets } from './schedule.js';
export { type Recipe, RecipeError, type RecipeInput, type RecipeIssue, parseRecipe, recipeJsonSchema, recipeSchema, validateRecipe } from './recipe.js';
export { type Histogram, type Percentiles, decodeHistogram, encodeHistogram, mergeHistograms, newHistogram, percentilesMs, recordMs } from './stats.js';
export {
  type Alignment,
  type AlignedToken,
  type CorpusScore,
  type EditCounts,
  NORMALIZER_VERSION,
  type UtteranceScore,
  align,
  corpusScore,
  mergeCorpusScores,
  normalizeEnglish,
  scoreUtterance,
} from './wer.js';
export { type AudioItem, DatasetError, audioContentType, audioDurationSeconds, loadAsrManifest, loadHfArrow } from './audio.js';
export { prepareItems } from './dataset.js';
export { type EngineOptions, type EngineResult, type EngineTarget, LoadEngine, type PreparedItem, type ShardProgress, WORKLOAD_APIS, type WorkloadApi } from './engine.js';
export { type ShardStage, type StagePlan, phaseOf, planStages, shardStages } from './plan.js';
export { ERROR_KINDS, type ErrorKind, RecordWriter, type RequestRecord, readAllRecords, readRecords } from './records.js';
export { BENCHMARK_STATES, type BenchmarkState, benchMigrations } from './schema.js';
export {
  type AsyncInput,
  type BenchmarkServiceDeps,
  BenchmarkService,
  type BenchmarkView,
  type CreateInput,
  type ResultsView,
  type SummaryView,
} from './service.js';
export { type EvaluationView, type StageAggregate, type StageResults, fromSummary, mergeAggregates, stageResults, summarize, toSummary } from './summary.js';
export { recordsCsv, stagesCsv } from './export.js';
export {
  BENCH_QUEUE,
  type ProgressView,
  RUN_KIND,
  SHARD_KIND,
  type ShardProgressReport,
  type ShardSpec,
  progressViewSchema,
  shardProgressReportSchema,
  shardRoutes,
  shardSpecSchema,
  toProgressReport,
} from './protocol.js';
export { type ShardRun, runShard, shardRunOf } from './shard.js';
export { type CommandClientRecord, type CommandClientsRequest, type ServiceJobRecord, type SlurmBenchHooks, type SlurmRunView } from './commands.js';
export { benchmarkResultsSchema, benchmarkSchema } from './apiSchemas.js';
