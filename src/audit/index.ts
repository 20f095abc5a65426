export { AuditLog, type AuditQuery, type AuditRecord, auditMigrations } from './audit.js';
