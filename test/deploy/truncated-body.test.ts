import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequest } from "../../src/gen/envoy/service/auth/v3/external_auth.js";
import { headerMap, startTestApp, type TestApp } from "../support/app.js";
import { repoPath } from "./support/repo.js";

// A body over Envoy's max_request_bytes reaches tollgate cut (test/fixtures/envoy/check-partial-body.json:
// the demo key, 1 MiB of a 1.5 MiB chat request). What the shipped policy does with it is data:
// denied (400 body_truncated) unless the caller's role sets "truncated_body": "allow".
const partial = (): CheckRequest => CheckRequest.fromJSON(JSON.parse(readFileSync(repoPath("test/fixtures/envoy/check-partial-body.json"), "utf8")));

describe("a body cut at Envoy's max_request_bytes, through the shipped policy", () => {
  let dir: string;
  let t: TestApp;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "tollgate-truncated-"));
    cpSync(repoPath("policies"), dir, { recursive: true });
    const data = JSON.parse(readFileSync(path.join(dir, "data.json"), "utf8")) as { gateway: { roles: Record<string, Record<string, unknown>> } };
    expect(data.gateway.roles["demo"]!["truncated_body"]).toBe("deny");
    data.gateway.roles["demo"]!["truncated_body"] = "allow";
    writeFileSync(path.join(dir, "data.json"), JSON.stringify(data));
    t = await startTestApp(dir);
  }, 60_000);
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("role truncated_body allow – admitted to the tenant's upstream, reserving the output cap (the input is reconciled later)", async () => {
    const res = await t.check(partial());
    expect(res.status?.code, JSON.stringify(res.dynamicMetadata)).toBe(0);
    expect(res.dynamicMetadata?.["reason"]).toBe("allowed_truncated_body");
    expect(headerMap(res.okResponse)["x-tollgate-upstream"]).toEqual(["mock-llm"]);
    expect(res.dynamicMetadata?.["reserved_tokens"]).toBe(1024);
    expect(res.dynamicMetadata?.["tollgate_reservation"]).toBeDefined();
  });
});
