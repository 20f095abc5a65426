export { type SseEvent, SseParser } from './parser.js';
