import { readdirSync, readFileSync } from "node:fs";
import protojson from "protobufjs/ext/protojson.js";
import type protobuf from "protobufjs";
import { beforeAll, describe, expect, it } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { MAX_REQUEST_BYTES, buildFixtures, serialise } from "../fixtures/envoy/generate.js";
import { descriptorsFor } from "./support/descriptors.js";
import { EXT_AUTHZ_TYPE, RATELIMIT_TYPE, TOLLGATE_CONTRACT, arr, connectionManagers, dig, httpFilters, obj, routesOf, upstreamOfRoute } from "./support/envoy-checks.js";
import { loadEnvoyRoot } from "./support/envoy-protos.js";
import { readRepoYaml, repoPath } from "./support/repo.js";
import { decodeStrict } from "./support/strict-protojson.js";

const DIR = "test/fixtures/envoy";
const CHECK = "envoy.service.auth.v3.CheckRequest";
const RLS = "envoy.service.ratelimit.v3.RateLimitRequest";
const files = readdirSync(repoPath(DIR)).filter((f) => f.endsWith(".json")).sort();
const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(repoPath(`${DIR}/${name}`), "utf8")) as Record<string, unknown>;

let root: protobuf.Root;
const envoy = readRepoYaml("envoy/envoy.yaml");
const [{ hcm, path: hcmPath }] = connectionManagers(envoy) as [{ hcm: Record<string, unknown>; path: string }];
const routes = routesOf(hcm, hcmPath);
const vhost = obj(arr(dig(hcm, "route_config.virtual_hosts"))[0]);
const authzFilter = httpFilters(hcm).find((f) => f.type === EXT_AUTHZ_TYPE)!.config!;

beforeAll(() => {
  root = loadEnvoyRoot();
});

/** The route Envoy matches before tollgate answers (client x-tollgate-* headers are stripped by then). */
function preAuthRoute(path: string, headers: Record<string, string>): Record<string, unknown> {
  for (const { route } of routes) {
    const match = obj(route["match"]) ?? {};
    if (typeof match["path"] === "string" && match["path"] !== path) continue;
    if (typeof match["prefix"] === "string" && !path.startsWith(match["prefix"])) continue;
    const headerMatch = arr(match["headers"]).every((h) => headers[String(dig(h, "name"))] === dig(h, "string_match.exact"));
    if (headerMatch) return route;
  }
  throw new TollgateError("internal_error", `no route for ${path}`);
}

/** ext_authz settings for a route: its own per-filter config, else the virtual host's. */
function authzSettings(route: Record<string, unknown>): { contextExtensions: unknown; body: Record<string, unknown> } {
  const key = "envoy.filters.http.ext_authz";
  const perRoute = obj(obj(route["typed_per_filter_config"])?.[key]) ?? obj(obj(vhost?.["typed_per_filter_config"])?.[key]);
  return {
    contextExtensions: dig(perRoute, "check_settings.context_extensions") ?? {},
    body: obj(dig(perRoute, "check_settings.with_request_body")) ?? obj(authzFilter["with_request_body"]) ?? {},
  };
}

describe("test/fixtures/envoy", () => {
  it("holds exactly what generate.ts writes (regenerate: npx tsx test/fixtures/envoy/generate.ts)", () => {
    const built = buildFixtures();
    expect(files).toEqual(Object.keys(built).sort());
    for (const [name, value] of Object.entries(built)) {
      expect(readFileSync(repoPath(`${DIR}/${name}`), "utf8") === serialise(value), `${name} differs from the generator`).toBe(true);
    }
  });

  it.each(files)("%s decodes strictly (unknown fields, types, enums) as its Envoy message", (name) => {
    const type = name.startsWith("check-") ? CHECK : RLS;
    expect(decodeStrict({ root, typeName: type, value: read(name) })).toEqual([]);
  });

  it.each(files)("%s is canonical protobuf JSON (protobufjs' ProtoJSON parser reads it and writes it back unchanged)", (name) => {
    const type = root.lookupType(name.startsWith("check-") ? CHECK : RLS);
    const json = read(name);
    expect(protojson.toJson(type, protojson.fromJson(type, json))).toEqual(json);
  });
});

const checks = files.filter((f) => f.startsWith("check-"));

describe("CheckRequest fixtures agree with envoy/envoy.yaml", () => {
  it.each(checks)("%s", (name) => {
    const attributes = obj(read(name)["attributes"])!;
    const http = obj(dig(attributes, "request.http"))!;
    const headers = obj(http["headers"]) as Record<string, string>;
    const source = dig(attributes, "source.address.socketAddress.address");

    // Pseudo-headers mirror the request fields; Envoy lower-cases every header name.
    expect([headers[":method"], headers[":path"], headers[":authority"], headers[":scheme"]]).toEqual([http["method"], http["path"], http["host"], http["scheme"]]);
    expect(Object.keys(headers).filter((h) => h !== h.toLowerCase())).toEqual([]);
    // Added by the connection manager for an edge request.
    expect([headers["x-forwarded-for"], headers["x-envoy-external-address"], headers["x-forwarded-proto"]]).toEqual([source, source, "http"]);
    expect(headers["x-request-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Stripped before routing, so tollgate never sees a client's choice of tenant or upstream.
    expect(Object.keys(headers).filter((h) => h.startsWith("x-tollgate-"))).toEqual([]);
    expect(dig(attributes, "destination.address.socketAddress.portValue")).toBe(TOLLGATE_CONTRACT.listenerPort);

    const route = preAuthRoute(String(http["path"]), headers);
    const settings = authzSettings(route);
    expect(attributes["contextExtensions"]).toEqual(settings.contextExtensions);
    expect(settings.body["max_request_bytes"]).toBe(MAX_REQUEST_BYTES);

    const hasBody = headers["content-length"] !== undefined;
    const text = http["body"];
    const raw = http["rawBody"];
    expect(text !== undefined || raw !== undefined).toBe(hasBody);
    if (!hasBody) {
      expect(headers["x-envoy-auth-partial-body"]).toBeUndefined();
      expect(http["size"]).toBeUndefined();
      return;
    }
    expect(raw !== undefined).toBe(settings.body["pack_as_bytes"] === true);
    const bytes = raw !== undefined ? Buffer.from(String(raw), "base64") : Buffer.from(String(text), "utf8");
    const length = Number(headers["content-length"]);
    const partial = length > MAX_REQUEST_BYTES;
    expect(headers["x-envoy-auth-partial-body"]).toBe(partial ? "true" : "false");
    expect(bytes.length).toBe(Math.min(length, MAX_REQUEST_BYTES));
    if (partial) expect(Number(http["size"])).toBeGreaterThanOrEqual(MAX_REQUEST_BYTES);
    else expect(Number(http["size"])).toBe(length);
  });

  it("covers the cases tollgate must handle: three providers, partial body, raw bytes, a bodyless probe", () => {
    const summary = checks.map((name) => {
      const http = obj(dig(read(name), "attributes.request.http"))!;
      const headers = obj(http["headers"])!;
      return [name, http["method"], http["path"], http["rawBody"] ? "raw" : http["body"] ? "text" : "none", headers["x-envoy-auth-partial-body"] ?? "-"];
    });
    expect(summary).toEqual([
      ["check-anthropic-messages.json", "POST", "/v1/messages", "text", "false"],
      ["check-gemini-generate-content.json", "POST", "/v1beta/models/gemini-2.0-flash:generateContent", "text", "false"],
      ["check-healthz.json", "GET", "/healthz", "none", "-"],
      ["check-openai-chat.json", "POST", "/v1/chat/completions", "text", "false"],
      ["check-partial-body.json", "POST", "/v1/chat/completions", "text", "true"],
      ["check-raw-body-audio.json", "POST", "/v1/audio/transcriptions", "raw", "false"],
    ]);
  });

  it("the partial body is the first 1 MiB of a larger JSON document, so it no longer parses", () => {
    const http = obj(dig(read("check-partial-body.json"), "attributes.request.http"))!;
    const body = String(http["body"]);
    expect(body.startsWith('{"model":"gpt-4o","max_tokens":300,"messages":')).toBe(true);
    expect(() => JSON.parse(body)).toThrow();
  });
});

describe("RateLimitRequest fixtures agree with envoy/envoy.yaml's route actions", () => {
  const scenarios = [
    { file: "ratelimit-acme-openai.json", tenant: "acme", upstream: "openai", client: "172.18.0.1" },
    { file: "ratelimit-acme-mock-llm.json", tenant: "acme", upstream: "mock-llm", client: "172.18.0.1" },
    { file: "ratelimit-globex-anthropic.json", tenant: "globex", upstream: "anthropic", client: "172.18.0.9" },
  ];
  const filters = httpFilters(hcm).filter((f) => f.type === RATELIMIT_TYPE);

  it("every ratelimit fixture has a scenario", () => {
    expect([...scenarios.map((s) => s.file), "ratelimit-flood-guard.json"].sort()).toEqual(files.filter((f) => f.startsWith("ratelimit-")));
  });

  it.each(scenarios)("$file: tenant $tenant via $upstream from $client (the stage-0 filter, after ext_authz)", ({ file, tenant, upstream, client }) => {
    const route = routes.find((r) => upstreamOfRoute(r.route, TOLLGATE_CONTRACT.upstreamHeader) === upstream)!.route;
    const expected = descriptorsFor(dig(route, "route.rate_limits"), {
      headers: { "x-tollgate-tenant": tenant, "x-tollgate-upstream": upstream },
      remoteAddress: client,
    });
    const filter = filters.find((f) => (f.config?.["stage"] ?? 0) === 0)!;
    // hits_addend 0 (Envoy's default: count 1) is left out in protobuf JSON.
    expect(read(file)).toEqual({ domain: filter.config!["domain"], descriptors: expected.map((entries) => ({ entries })) });
  });

  it("ratelimit-flood-guard.json: what the stage-1 filter sends for any LLM call before ext_authz (the route matched then)", () => {
    const headers = obj(dig(read("check-openai-chat.json"), "attributes.request.http.headers")) as Record<string, string>;
    const route = preAuthRoute("/v1/chat/completions", headers);
    expect(route["name"]).toBe("no-upstream");
    const filter = filters.find((f) => f.config?.["stage"] === 1)!;
    const expected = descriptorsFor(dig(route, "route.rate_limits"), { headers, remoteAddress: "172.18.0.1" }, 1);
    expect(read("ratelimit-flood-guard.json")).toEqual({ domain: filter.config!["domain"], descriptors: expected.map((entries) => ({ entries })) });
    // The tenant descriptors are not there: nothing has set x-tollgate-tenant yet.
    expect(descriptorsFor(dig(route, "route.rate_limits"), { headers, remoteAddress: "172.18.0.1" }, 0)).toEqual([]);
  });
});
