import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { RateLimitServiceClient, type RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { checkRequest, startTestApp, type TestApp } from "../support/app.js";

/** A policy with one outcome per path, so a traffic mix gives known counts by result and reason. */
export const TRAFFIC_POLICY = {
  "authz.rego": `package envoy.authz

import rego.v1

default allow := {"allowed": false, "http_status": 403, "dynamic_metadata": {"reason": "forbidden_path"}}

allow := {"allowed": true} if input.attributes.request.http.path == "/ok"

allow := {"allowed": false, "http_status": 401, "dynamic_metadata": {"reason": "missing_key"}} if input.attributes.request.http.path == "/nokey"

allow := {"allowed": true, "limits": [
	{"key": concat(":", ["acme-req", input.attributes.request.http.headers["x-run"]]), "name": "requests_per_hour", "limit": 2, "unit": "hour"},
	{"key": concat(":", ["acme-tok", input.attributes.request.http.headers["x-run"]]), "name": "tokens_per_hour", "limit": 100000, "unit": "hour", "cost": 250},
], "dynamic_metadata": {"tenant": "acme"}} if input.attributes.request.http.path == "/limited"
`,
};

/** A candidate that disagrees on purpose: it lets /nokey through (deny_to_allow) and answers other paths 404 (status_changed). */
export const CANDIDATE_POLICY = {
  "authz.rego": `package envoy.authz

import rego.v1

default allow := {"allowed": false, "http_status": 404, "dynamic_metadata": {"reason": "forbidden_path"}}

allow := {"allowed": true} if input.attributes.request.http.path in {"/ok", "/nokey"}

allow := {"allowed": true, "limits": [
	{"key": concat(":", ["acme-req", input.attributes.request.http.headers["x-run"]]), "name": "requests_per_hour", "limit": 2, "unit": "hour"},
	{"key": concat(":", ["acme-tok", input.attributes.request.http.headers["x-run"]]), "name": "tokens_per_hour", "limit": 100000, "unit": "hour", "cost": 250},
], "dynamic_metadata": {"tenant": "acme"}} if input.attributes.request.http.path == "/limited"
`,
};

export const RATELIMIT_CONFIG = `domain: api
descriptors:
  - key: user
    rate_limit: {unit: hour, requests_per_unit: 2}
`;

export interface Mix {
  ok: number;
  nokey: number;
  forbidden: number;
  /** Calls to /limited: the first 2 pass, the rest are rate_limited. */
  limited: number;
  /** ShouldRateLimit calls for one user: the first 2 are OK, the rest OVER_LIMIT. */
  rls: number;
}

/** The counts a mix must produce in tollgate_check_total and the rate-limit metrics. */
export function expected(mix: Mix) {
  const limitedOk = Math.min(mix.limited, 2);
  return {
    allowed: mix.ok + limitedOk,
    denied: mix.nokey + mix.forbidden + (mix.limited - limitedOk),
    byReason: { missing_key: mix.nokey, forbidden_path: mix.forbidden, rate_limited: mix.limited - limitedOk },
    rlsOk: Math.min(mix.rls, 2),
    rlsOver: mix.rls - Math.min(mix.rls, 2),
  };
}

export async function startTrafficApp(settings: Record<string, unknown> = {}): Promise<TestApp & { rls: RateLimitServiceClient }> {
  const rlDir = mkdtempSync(path.join(tmpdir(), "tollgate-rl-"));
  writeFileSync(path.join(rlDir, "api.yaml"), RATELIMIT_CONFIG);
  const t = await startTestApp(TRAFFIC_POLICY, { ratelimitConfig: rlDir, logLevel: "warn", ...settings });
  const rls = new RateLimitServiceClient(`127.0.0.1:${t.app.grpcPort}`, credentials.createInsecure());
  const close = t.close;
  return { ...t, rls, close: async () => { rls.close(); await close(); } };
}

let runs = 0;

/** Sends the mix through real gRPC Check and ShouldRateLimit calls. Each call to drive() uses fresh counter keys. */
export async function drive(t: TestApp & { rls: RateLimitServiceClient }, mix: Mix, run = `${process.pid}-${Date.now()}-${++runs}`): Promise<void> {
  const checks: Promise<unknown>[] = [];
  const send = (p: string, n: number) => {
    for (let i = 0; i < n; i++) checks.push(t.check(checkRequest({ path: p, headers: { "x-run": run } })));
  };
  send("/ok", mix.ok);
  send("/nokey", mix.nokey);
  send("/elsewhere", mix.forbidden);
  await Promise.all(checks);
  for (let i = 0; i < mix.limited; i++) await t.check(checkRequest({ path: "/limited", headers: { "x-run": run } }));
  for (let i = 0; i < mix.rls; i++) {
    await new Promise<RateLimitResponse>((resolve, reject) =>
      t.rls.shouldRateLimit({ domain: "api", hitsAddend: 1, descriptors: [{ entries: [{ key: "user", value: run }], limit: undefined }] }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }
}
