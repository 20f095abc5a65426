export { type CatapultEvent, type EventInput, EventLog, eventMigrations, eventSchema } from './events.js';
