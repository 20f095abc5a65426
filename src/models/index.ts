export {
  type FormatDetector,
  type Model,
  type ModelUsage,
  ModelService,
  type RegisterModelInput,
  modelMigrations,
  resolveSource,
} from './models.js';
