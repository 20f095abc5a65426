export {
  type AnyDb,
  type AnyTrx,
  type CatapultMigration,
  type ColumnTypes,
  type Dialect,
  type MigrationContext,
  type MigrationStatus,
  Store,
  type StoreOptions,
  fromJson,
  tables,
  toJson,
} from './store.js';
