export { AuditTrail, type AuditRange, type AuditTrailOptions } from "./trail.js";
export { verifyAuditFile, DEFAULT_MAX_LINE_BYTES, type VerifyResult } from "./verify.js";
export { AUDIT_ACTIONS, GENESIS_HASH, type AuditAction, type AuditEntry, type AuditRecord, type AuditTests } from "./record.js";
export { rfc8785Json } from "./rfc8785-json.js";
