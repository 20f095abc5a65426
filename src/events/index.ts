export { type CatapultEvent, type EventInput, EventLog, eventMigrations } from './events.js';
