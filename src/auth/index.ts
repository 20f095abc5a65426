export {
  type ApiKey,
  type CreateKeyInput,
  KeyService,
  SCOPES,
  type Scope,
  generateSecret,
  hasScope,
  hashSecret,
  keyMigrations,
  sameHash,
} from './keys.js';
