import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { TollgateError } from "../src/errors.js";

/** One CheckRequest (proto3 JSON) and the HTTP status the policy must answer it with. */
export interface CheckPayload {
  name: string;
  expectStatus: number;
  request: Record<string, unknown>;
}

/** One RateLimitRequest (proto3 JSON). */
export interface RlsPayload {
  name: string;
  request: Record<string, unknown>;
}

/** A Check payload file: the payloads, and optionally a patch deep-merged into <policies>/data.json for the run. */
export interface CheckPayloadFile {
  dataPatch?: Record<string, unknown>;
  payloads: CheckPayload[];
}

const checkArray = z
  .array(z.object({ name: z.string().min(1), expectStatus: z.number().int().min(100).max(599), request: z.record(z.string(), z.unknown()) }).strict())
  .min(1);
const checkObject = z.object({ dataPatch: z.record(z.string(), z.unknown()).optional(), payloads: checkArray }).strict();
const rlsSchema = z.array(z.object({ name: z.string().min(1), request: z.record(z.string(), z.unknown()) }).strict()).min(1);

export const DEFAULT_LLM_PAYLOADS = path.join(import.meta.dirname, "payloads", "check-llm.json");
export const DEFAULT_STARTER_PAYLOADS = path.join(import.meta.dirname, "payloads", "check-starter.json");
export const DEFAULT_RLS_PAYLOADS = path.join(import.meta.dirname, "payloads", "rls.json");

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TollgateError("config_error", `cannot read payload file ${file}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new TollgateError("config_error", `${file} is not JSON: ${TollgateError.from(err).message}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, file: string, value: unknown = readJson(file)): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TollgateError("config_error", `${file}: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid"}`);
  }
  return parsed.data;
}

export function loadCheckPayloads(file: string): CheckPayloadFile {
  const value = readJson(file);
  // A bare array, or { dataPatch?, payloads }: parsed with the one schema that fits, so errors name the field.
  if (Array.isArray(value)) return { payloads: parseWith(checkArray, file, value) };
  const parsed = parseWith(checkObject, file, value);
  return parsed.dataPatch ? { dataPatch: parsed.dataPatch, payloads: parsed.payloads } : { payloads: parsed.payloads };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else in the patch replaces. */
export function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = deepMerge(base[k], v);
  return out;
}

/**
 * The policy folder a run uses: the folder itself, or a copy under tmpDir whose data.json has the
 * payload file's dataPatch merged in (the source folder is never changed).
 */
export function preparePolicyDir(opts: { policies: string; dataPatch?: Record<string, unknown>; tmpDir: string }): string {
  if (!opts.dataPatch) return path.resolve(opts.policies);
  const dir = mkdtempSync(path.join(opts.tmpDir, "policies-"));
  cpSync(opts.policies, dir, { recursive: true });
  const dataFile = path.join(dir, "data.json");
  const base = existsSync(dataFile) ? readJson(dataFile) : {};
  writeFileSync(dataFile, JSON.stringify(deepMerge(base, opts.dataPatch)));
  return dir;
}

export function loadRlsPayloads(file: string): RlsPayload[] {
  return parseWith(rlsSchema, file);
}

/** Writes the requests as the JSON array ghz sends round-robin, one message per call. */
export function writeGhzData(opts: { payloads: readonly { request: Record<string, unknown> }[]; file: string }): string {
  writeFileSync(opts.file, JSON.stringify(opts.payloads.map((p) => p.request)));
  return opts.file;
}
