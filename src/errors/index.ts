export {
  CATALOGUE,
  CatapultError,
  type ErrorCode,
  type FieldError,
  type Problem,
  isCatapultError,
  toProblem,
} from './catalogue.js';
