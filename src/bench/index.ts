export { type ArrivalProcess, type ScheduleLimits, arrivalOffsets } from './schedule.js';
export { type Recipe, RecipeError, type RecipeInput, type RecipeIssue, parseRecipe, recipeSchema, validateRecipe } from './recipe.js';
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
