export {
  type ApiKey,
  type CreateKeyInput,
  type KeyCredential,
  KeyService,
  SCOPES,
  type Scope,
  generateSecret,
  hasScope,
  hashSecret,
  keyMigrations,
  sameHash,
} from './keys.js';
