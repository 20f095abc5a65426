export {
  type FormatDetector,
  type Model,
  type ModelUsage,
  ModelService,
  type RegisterModelInput,
  modelMigrations,
  modelSchema,
  resolveSource,
} from './models.js';
