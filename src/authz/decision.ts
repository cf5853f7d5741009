import { TollgateError } from "../errors.js";
import { StatusCode } from "../gen/envoy/type/v3/http_status.js";
import { isPlainObject } from "../json.js";

export type Pair = readonly [key: string, value: string];

/** A limit the policy asks tollgate to apply after evaluation (tollgate extension, see docs/policy-limits.md). */
export interface PolicyLimit {
  key: string;
  limit: number;
  windowSeconds: number;
  cost: number;
  algorithm: "fixed_window" | "sliding_window" | "token_bucket";
  failureMode: "allow" | "deny";
  shadow: boolean;
  name: string;
  /** Correct the charge to actual usage at the end of the response (ext_proc), see docs/policy-limits.md. */
  reconcile: boolean;
  /** May stop a streamed response that crosses this limit (needs reconcile). */
  streamStop: boolean;
  /** What the counter is counted within (e.g. the tenant): its Redis Cluster slot group; undefined is the one shared partition. */
  partition: string | undefined;
}

/** The policy's answer, read and type-checked once. */
export interface Decision {
  allowed: boolean;
  headers: Pair[];
  requestHeadersToRemove: string[];
  responseHeadersToAdd: Pair[];
  queryParametersToSet: Pair[];
  queryParametersToRemove: string[];
  body: string | undefined;
  /** A denial message tollgate renders in the client's own error format (e.g. the LLM provider's JSON) when body is absent. */
  message: string | undefined;
  httpStatus: number;
  dynamicMetadata: Record<string, unknown> | undefined;
  limits: PolicyLimit[];
  /** Optional body for a 429 raised by the limits above. */
  limitedBody: string | undefined;
  /** Secret references to resolve into upstream headers: header name → reference (tollgate extension). */
  upstreamSecrets: Pair[];
}

type Obj = Record<string, unknown>;

function fail(message: string): never {
  throw new TollgateError("decision_error", message);
}


function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function stringList(d: Obj, field: string): string[] {
  const v = d[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(`expected ${field} to be an array of strings but got ${typeName(v)}`);
  return v.map((s) => (typeof s === "string" ? s : fail(`expected ${field} values to be strings but got ${typeName(s)}`)));
}

function pairsFromMap(field: string, map: Obj, out: Pair[]): void {
  for (const [k, v] of Object.entries(map)) {
    if (typeof v === "string") out.push([k, v]);
    else if (Array.isArray(v)) {
      for (const s of v) out.push([k, typeof s === "string" ? s : fail(`invalid value type ${typeName(s)} for ${field} '${k}'`)]);
    } else fail(`invalid value type ${typeName(v)} for ${field} '${k}'`);
  }
}

/** Headers as {k: string | [string]} or an array of such objects. */
function pairs(d: Obj, field: string): Pair[] {
  const v = d[field];
  const out: Pair[] = [];
  if (v === undefined) return out;
  if (isPlainObject(v)) pairsFromMap(field, v, out);
  else if (Array.isArray(v)) {
    for (const m of v) {
      if (!isPlainObject(m)) fail(`expected ${field} entries to be objects but got ${typeName(m)}`);
      pairsFromMap(field, m, out);
    }
  } else fail(`expected ${field} to be an object but got ${typeName(v)}`);
  return out;
}

function httpStatus(d: Obj): number {
  const v = d["http_status"];
  if (v === undefined) return 403;
  if (typeof v !== "number" || !Number.isInteger(v)) fail(`expected http_status to be an integer but got ${typeName(v)}`);
  if (v === 0 || StatusCode[v] === undefined) fail(`invalid HTTP status code ${v}`);
  return v;
}

function optionalString(d: Obj, field: string): string | undefined {
  const v = d[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string") fail(`expected ${field} to be a string but got ${typeName(v)}`);
  return v;
}

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800, month: 2592000, year: 31536000 };
const ALGORITHMS = new Set(["fixed_window", "sliding_window", "token_bucket"]);

function positiveInt(v: unknown, what: string, allowZero: boolean): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || (!allowZero && v === 0)) fail(`expected ${what} to be a ${allowZero ? "non-negative" : "positive"} integer but got ${JSON.stringify(v)}`);
  return v;
}

function limitOf(v: unknown, i: number): PolicyLimit {
  if (!isPlainObject(v)) fail(`expected limits[${i}] to be an object but got ${typeName(v)}`);
  const key = v["key"];
  if (typeof key !== "string" || key === "" || key.length > 512) fail(`expected limits[${i}].key to be a non-empty string of at most 512 characters`);
  let windowSeconds: number;
  if (v["window"] !== undefined) windowSeconds = positiveInt(v["window"], `limits[${i}].window`, false);
  else {
    const unit = typeof v["unit"] === "string" ? UNIT_SECONDS[v["unit"].toLowerCase()] : undefined;
    if (unit === undefined) fail(`limits[${i}] needs window (seconds) or unit (second|minute|hour|day|week|month|year)`);
    windowSeconds = unit;
  }
  const algorithm = v["algorithm"] ?? "fixed_window";
  if (typeof algorithm !== "string" || !ALGORITHMS.has(algorithm)) fail(`invalid limits[${i}].algorithm ${JSON.stringify(algorithm)}`);
  const failureMode = v["failure_mode"] ?? "allow";
  if (failureMode !== "allow" && failureMode !== "deny") fail(`invalid limits[${i}].failure_mode ${JSON.stringify(failureMode)}`);
  const shadow = v["shadow"] ?? false;
  if (typeof shadow !== "boolean") fail(`expected limits[${i}].shadow to be a boolean`);
  const name = v["name"] ?? key;
  if (typeof name !== "string" || name === "" || name.length > 512) fail(`expected limits[${i}].name to be a non-empty string of at most 512 characters`);
  const reconcile = v["reconcile"] ?? false;
  if (typeof reconcile !== "boolean") fail(`expected limits[${i}].reconcile to be a boolean`);
  const streamStop = v["stream_stop"] ?? false;
  if (typeof streamStop !== "boolean") fail(`expected limits[${i}].stream_stop to be a boolean`);
  if (streamStop && !reconcile) fail(`limits[${i}].stream_stop needs reconcile: true (a stream is stopped on the counter its reservation is reconciled on)`);
  if (streamStop && shadow) fail(`limits[${i}] is a shadow limit: it never refuses, so it cannot stop a stream (drop stream_stop or shadow)`);
  const partition = v["partition"];
  if (partition !== undefined && (typeof partition !== "string" || partition === "" || partition.length > 128)) {
    fail(`expected limits[${i}].partition to be a non-empty string of at most 128 characters`);
  }
  return {
    key,
    name,
    limit: positiveInt(v["limit"], `limits[${i}].limit`, true),
    windowSeconds,
    cost: v["cost"] === undefined ? 1 : positiveInt(v["cost"], `limits[${i}].cost`, true),
    algorithm: algorithm as PolicyLimit["algorithm"],
    failureMode,
    shadow,
    reconcile,
    streamStop,
    partition,
  };
}

const MAX_LIMITS = 32;

function limits(d: Obj): PolicyLimit[] {
  const v = d["limits"];
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(`expected limits to be an array but got ${typeName(v)}`);
  if (v.length > MAX_LIMITS) fail(`at most ${MAX_LIMITS} limits per decision`);
  return v.map(limitOf);
}

/** A decision with no mutations: what a boolean decision, or a denial tollgate makes itself, amounts to. */
export function bareDecision(allowed: boolean, httpStatus = 403, body?: string, headers: Pair[] = []): Decision {
  return {
    allowed, headers, requestHeadersToRemove: [], responseHeadersToAdd: [], queryParametersToSet: [], queryParametersToRemove: [],
    body, message: undefined, httpStatus, dynamicMetadata: undefined, limits: [], limitedBody: undefined, upstreamSecrets: [],
  };
}

/**
 * Reads an evaluation result set into a Decision, as opa-envoy-plugin does: a boolean, or an
 * object whose "allowed" is a boolean. Anything else throws TollgateError("decision_error").
 */
export function readDecision(resultSet: unknown): Decision {
  if (!Array.isArray(resultSet) || resultSet.length === 0) fail("decision is undefined");
  if (resultSet.length > 1) fail("decision has multiple results");
  const first: unknown = resultSet[0];
  const value = isPlainObject(first) ? first["result"] : undefined;
  if (value === undefined) fail("decision is undefined");
  if (typeof value === "boolean") return bareDecision(value);
  if (!isPlainObject(value)) fail(`illegal value for policy evaluation result: ${typeName(value)}`);
  const allowed = value["allowed"];
  if (allowed === undefined) fail(`unable to determine evaluation result due to missing "allowed" key`);
  if (typeof allowed !== "boolean") fail(`expected allowed to be of type boolean but got ${typeName(allowed)}`);
  const dm = value["dynamic_metadata"];
  if (dm !== undefined && !isPlainObject(dm)) fail(`expected dynamic_metadata to be an object but got ${typeName(dm)}`);
  return {
    allowed,
    headers: pairs(value, "headers"),
    requestHeadersToRemove: stringList(value, "request_headers_to_remove"),
    responseHeadersToAdd: pairs(value, "response_headers_to_add"),
    queryParametersToSet: pairs(value, "query_parameters_to_set"),
    queryParametersToRemove: stringList(value, "query_parameters_to_remove"),
    body: optionalString(value, "body"),
    message: optionalString(value, "message"),
    httpStatus: httpStatus(value),
    dynamicMetadata: dm,
    limits: limits(value),
    limitedBody: optionalString(value, "limited_body"),
    upstreamSecrets: pairs(value, "upstream_secrets"),
  };
}
