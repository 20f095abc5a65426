export { type ControlPlane, type ControlPlaneOptions, sqliteFile, startControlPlane } from './controlPlane.js';
export { allMigrations } from './migrations.js';
export type { Resources } from './resources.js';
