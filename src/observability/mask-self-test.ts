import { randomBytes } from "node:crypto";
import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth.js";

/**
 * The masking self-test: fresh sentinel secrets of every kind tollgate masks, placed in every field
 * a request copy has, sent through the running process's masking step, and looked for in what
 * each output would write. Only the sentinel's name is ever reported, never its value.
 */

/** One sentinel: a secret of one kind in one field. */
export interface Sentinel {
  /** e.g. "aws_access_key in header x-note". */
  name: string;
  value: string;
}

export interface MaskingSelfTest {
  passed: boolean;
  ranAt: string;
  /** Secret kinds and fields the sentinels covered. */
  kinds: string[];
  fields: string[];
  sentinelCount: number;
  /** Outputs searched, e.g. "console decision line". */
  outputs: string[];
  /** Outputs that withheld the input entirely (a mask policy that failed closed). */
  withheld: string[];
  /** Sentinels found in an output: the output and the sentinel's name, never its value. */
  leaks: { output: string; sentinel: string }[];
}

/** The settings of the running process the test ran under, as the report shows them. */
export interface MaskingSettings {
  logDecisionInput: boolean;
  logDecisionBody: boolean;
  decisionLogUpload: boolean;
  /** The active revision defines data.system.log.mask. */
  policyMaskRules: boolean;
  /** Prompt-guard patterns in the active revision's data (masked in decision copies). */
  guardPatterns: number;
  revision?: string;
}

export interface MaskingEvidence {
  settings: MaskingSettings;
  selfTest: MaskingSelfTest;
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function random(n: number, alphabet = ALNUM): string {
  const bytes = randomBytes(n);
  let out = "";
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** A fresh secret of each kind tollgate's own patterns mask (see BUILTIN_PATTERNS in mask.ts). */
function secretOfKind(kind: string): { text: string; secret: string } {
  switch (kind) {
    case "aws_access_key": {
      const s = `AKIA${random(16, UPPER)}`;
      return { text: s, secret: s };
    }
    case "private_key": {
      const body = randomBytes(48).toString("base64");
      return { text: `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`, secret: body };
    }
    case "gcp_api_key": {
      const s = `AIza${random(35)}`;
      return { text: s, secret: s };
    }
    case "openai_api_key": {
      const s = `sk-proj-${random(32)}`;
      return { text: s, secret: s };
    }
    case "anthropic_api_key": {
      const s = `sk-ant-api03-${random(32)}`;
      return { text: s, secret: s };
    }
    case "github_token": {
      const s = `ghp_${random(36)}`;
      return { text: s, secret: s };
    }
    case "slack_token": {
      const s = `xoxb-${random(24)}`;
      return { text: s, secret: s };
    }
    default: {
      const s = `eyJ${random(16)}.eyJ${random(24)}.${random(20)}`;
      return { text: s, secret: s };
    }
  }
}

export const SENTINEL_KINDS = ["aws_access_key", "private_key", "gcp_api_key", "openai_api_key", "anthropic_api_key", "github_token", "slack_token", "jwt"] as const;
/** Where a secret pattern's sentinel is placed: text a client controls. */
export const PATTERN_FIELDS = ["prompt", "header", "header_map", "path", "query"] as const;
/** Client credentials, masked by their field name wherever they are repeated. */
export const CREDENTIAL_FIELDS = ["authorization header", "x-api-key header", "cookie", "header_map authorization", "header_map raw x-api-key", "query key", "body api_key"] as const;

/**
 * A CheckRequest as Envoy sends it for an LLM call, carrying a fresh sentinel of every kind in
 * every field, and the list of sentinels to look for.
 */
export function sentinelRequest(): { request: CheckRequest; sentinels: Sentinel[] } {
  const sentinels: Sentinel[] = [];
  const put = (kind: string, field: string) => {
    const { text, secret } = secretOfKind(kind);
    sentinels.push({ name: `${kind} in ${field}`, value: secret });
    return text;
  };
  const prompt: string[] = [];
  const headers: Record<string, string> = {};
  const headerMap: { key: string; value: string; rawValue: Buffer }[] = [];
  const pathParams: string[] = [];
  const queryParams: string[] = [];
  for (const kind of SENTINEL_KINDS) {
    prompt.push(`my ${kind} is ${put(kind, "prompt")}`);
    headers[`x-note-${kind.replace(/_/g, "-")}`] = put(kind, "header").replace(/\n/g, " ");
    headerMap.push({ key: `x-map-${kind.replace(/_/g, "-")}`, value: put(kind, "header_map").replace(/\n/g, " "), rawValue: Buffer.alloc(0) });
    pathParams.push(`${kind}=${encodeURIComponent(put(kind, "path").replace(/\n/g, " "))}`);
    queryParams.push(`${kind}=${encodeURIComponent(put(kind, "query").replace(/\n/g, " "))}`);
  }
  const credential = (field: string) => {
    const value = `tg-sentinel-${random(24)}`;
    sentinels.push({ name: field, value });
    return value;
  };
  headers["authorization"] = `Bearer ${credential("authorization header")}`;
  headers["x-api-key"] = credential("x-api-key header");
  headers["cookie"] = `session=${credential("cookie")}`;
  headerMap.push({ key: "authorization", value: `Bearer ${credential("header_map authorization")}`, rawValue: Buffer.alloc(0) });
  headerMap.push({ key: "x-api-key", value: "", rawValue: Buffer.from(credential("header_map raw x-api-key")) });
  const queryKey = credential("query key");
  const path = `/v1/chat/completions?key=${queryKey}&${pathParams.join("&")}`;
  const body = JSON.stringify({ model: "gpt-4o-mini", api_key: credential("body api_key"), messages: [{ role: "user", content: prompt.join("\n") }] });
  headers[":path"] = path;
  headers["content-type"] = "application/json";
  const request: CheckRequest = {
    attributes: {
      source: undefined,
      destination: undefined,
      request: {
        time: undefined,
        http: {
          id: "masking-self-test", method: "POST", headers, headerMap: { headers: headerMap }, path, host: "self-test.invalid", scheme: "https",
          query: `key=${queryKey}&${queryParams.join("&")}`, fragment: "", size: Buffer.byteLength(body), protocol: "HTTP/1.1", body, rawBody: Buffer.alloc(0),
        },
      },
      contextExtensions: {},
      metadataContext: undefined,
      routeMetadataContext: undefined,
      tlsSession: undefined,
    },
  };
  return { request, sentinels };
}

/** What each output would write for the sentinel request (undefined: it withheld the input). */
export type SelfTestOutputs = Record<string, () => string | undefined>;

/** Runs every output and looks for every sentinel in what it wrote, also percent- and base64-encoded. */
export function findSentinels(sentinels: readonly Sentinel[], outputs: SelfTestOutputs): MaskingSelfTest {
  const leaks: MaskingSelfTest["leaks"] = [];
  const withheld: string[] = [];
  for (const [output, write] of Object.entries(outputs)) {
    let text: string | undefined;
    try {
      text = write();
    } catch (err) {
      leaks.push({ output, sentinel: `the output failed: ${(err as Error).message.slice(0, 200)}` });
      continue;
    }
    if (text === undefined) {
      withheld.push(output);
      continue;
    }
    for (const s of sentinels) {
      const forms = [s.value, encodeURIComponent(s.value), Buffer.from(s.value).toString("base64").slice(0, -4)];
      if (forms.some((f) => f.length > 0 && text!.includes(f))) leaks.push({ output, sentinel: s.name });
    }
  }
  return {
    passed: leaks.length === 0,
    ranAt: new Date().toISOString(),
    kinds: [...SENTINEL_KINDS, "client credentials by field name"],
    fields: [...PATTERN_FIELDS, ...CREDENTIAL_FIELDS],
    sentinelCount: sentinels.length,
    outputs: Object.keys(outputs),
    withheld,
    leaks,
  };
}
