import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { areaOf, summariseProfile } from "../../bench/cpuprofile.js";
import { ghzArgs, splitErrors } from "../../bench/ghz.js";
import { httpStatusOf } from "../../bench/grpc-call.js";
import { parseOptions } from "../../bench/options.js";
import { deepMerge, loadCheckPayloads, loadRlsPayloads, preparePolicyDir } from "../../bench/payloads.js";
import { readCpuSeconds, readRssBytes } from "../../bench/proc.js";
import { perRequest } from "../../bench/redis-stats.js";
import { median, pairRatios, replaceSection, summarise, type Sample } from "../../bench/report.js";
import { gauge } from "../../bench/soak.js";
import { rlsShape } from "../../bench/verify.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "tollgate-bench-unit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sample(row: string, round: number, rps: number, cpuPer1k: number): Sample {
  return { row, round, count: rps * 10, rps, p50Ms: 1, p99Ms: 2, cpuPer1k, redisCpuPer1k: 0, redisCommands: {}, errors: 0, nonOk: 0, otherCores: 1 };
}

describe("report arithmetic", () => {
  it.each([
    [[], Number.NaN],
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
  ])("median(%j) = %d", (xs, want) => {
    expect(median(xs)).toEqual(want);
  });

  it("pair ratios come round by round, median and range, and CPU ratio is denominator ÷ numerator", () => {
    const samples = [sample("a", 1, 300, 0.1), sample("b", 1, 100, 0.3), sample("a", 2, 200, 0.1), sample("b", 2, 200, 0.2), sample("a", 3, 500, 0.1), sample("b", 3, 250, 0.4)];
    const [r] = pairRatios(samples, [{ name: "a÷b", numerator: "a", denominator: "b", goal: 1.5 }]);
    expect(r).toMatchObject({ rpsRatio: 2, minRatio: 1, maxRatio: 3 });
    expect(r!.cpuRatio).toBeCloseTo(3, 12);
  });

  it("a pair with a row that never ran is left out rather than reported as NaN", () => {
    expect(pairRatios([sample("a", 1, 1, 1)], [{ name: "x", numerator: "a", denominator: "missing" }])).toEqual([]);
  });

  it("summaries take medians per row and add up errors", () => {
    const s = [sample("a", 1, 100, 0.2), { ...sample("a", 2, 300, 0.4), errors: 2 }, sample("a", 3, 200, 0.3)];
    expect(summarise(s, { a: "row A" })).toEqual([
      { row: "a", label: "row A", rounds: 3, rps: 200, p50Ms: 1, p99Ms: 2, cpuPer1k: 0.3, redisCpuPer1k: 0, redisCommands: {}, errors: 2, nonOk: 0, otherCores: 1 },
    ]);
  });

  it("replaceSection swaps only the marked block, and appends one when absent", () => {
    const doc = "# B\n\nintro\n\n<!-- bench:results:start -->\nold\n<!-- bench:results:end -->\n\ntail\n";
    expect(replaceSection(doc, "results", "new")).toBe("# B\n\nintro\n\n<!-- bench:results:start -->\nnew\n<!-- bench:results:end -->\n\ntail\n");
    expect(replaceSection("# B\n", "soak", "x")).toBe("# B\n\n<!-- bench:soak:start -->\nx\n<!-- bench:soak:end -->\n");
  });

  it("Redis command counts are per request and ignore commands that did not move", () => {
    expect(perRequest({ evalsha: 10, get: 5 }, { evalsha: 110, get: 5, incrby: 300 }, 100)).toEqual({ evalsha: 1, incrby: 3 });
    expect(perRequest({}, { evalsha: 1 }, 0)).toEqual({});
  });
});

describe("ghz output handling", () => {
  const cut = "rpc error: code = Unavailable desc = error reading from server: read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection";

  it.each([
    ["timed run: in-flight calls cut at the end are not errors", { [cut]: 16 }, true, { errors: {}, cutAtEnd: 16 }],
    ["counted run: the same message is a real error", { [cut]: 3 }, false, { errors: { [cut]: 3 }, cutAtEnd: 0 }],
    ["more cut calls than concurrent calls is reported as an error", { [cut]: 40 }, true, { errors: { "more calls cut at the end of the run than there were concurrent calls": 40 }, cutAtEnd: 0 }],
    ["other errors always count", { "rpc error: code = Internal desc = boom": 2 }, true, { errors: { "rpc error: code = Internal desc = boom": 2 }, cutAtEnd: 0 }],
  ])("%s", (_title, dist, timed, want) => {
    expect(splitErrors(dist, { timed, concurrency: 32 })).toEqual(want);
  });

  it("ghz runs without template rendering, pinned to one CPU, with exactly the asked rate", () => {
    const args = ghzArgs({ ghz: "ghz", addr: "127.0.0.1:1", call: "a.B/C", dataFile: "d.json", concurrency: 8, connections: 2, durationSeconds: 5, rps: 100, cpu: 0, outFile: "o.json" });
    expect(args).toEqual(expect.arrayContaining(["--disable-template-functions", "--disable-template-data", "--cpus", "1", "-z", "5s", "-r", "100", "-c", "8"]));
    expect(args.at(-1)).toBe("127.0.0.1:1");
  });
});

describe("reading answers", () => {
  it.each([
    ["allowed", { status: {} }, 200],
    ["denied without a status: Envoy's default 403", { status: { code: 7 } }, 403],
    ["denied 401 by enum name", { status: { code: 7 }, deniedResponse: { status: { code: "Unauthorized" } } }, 401],
    ["denied 429", { status: { code: 7 }, deniedResponse: { status: { code: "TooManyRequests" } } }, 429],
    ["unknown enum name falls back to 403", { status: { code: 7 }, deniedResponse: { status: { code: "Teapot" } } }, 403],
  ])("httpStatusOf: %s → %d", (_t, res, want) => {
    expect(httpStatusOf(res)).toBe(want);
  });

  it("rlsShape keeps codes, limits and remaining, and drops reset times and headers", () => {
    const res = { overallCode: "OK", statuses: [{ code: "OK", currentLimit: { requestsPerUnit: 60, unit: "MINUTE" }, limitRemaining: 59, durationUntilReset: "19s" }], responseHeadersToAdd: [{ key: "a", value: "b" }] };
    expect(rlsShape(res)).toEqual({ overallCode: "OK", statuses: [{ code: "OK", currentLimit: { requestsPerUnit: 60, unit: "MINUTE" }, limitRemaining: 59 }] });
  });
});

describe("payload files", () => {
  const write = (name: string, body: string) => {
    const f = path.join(tmp, name);
    writeFileSync(f, body);
    return f;
  };

  it.each([
    ["not JSON", "{", /is not JSON/],
    ["empty array", "[]", /\(root\)|payloads/],
    ["status out of range", JSON.stringify([{ name: "x", expectStatus: 99, request: {} }]), /: 0\.expectStatus: /],
    ["unknown field", JSON.stringify([{ name: "x", expectStatus: 200, request: {}, extra: 1 }]), /: 0: .*extra/],
    ["object form without payloads", JSON.stringify({ dataPatch: {} }), /: payloads: /],
  ])("a Check payload file with %s is refused with a clear message", (_t, body, msg) => {
    expect(() => loadCheckPayloads(write(`bad-${Math.random()}.json`, body))).toThrow(msg);
  });

  it("a missing file names itself", () => {
    expect(() => loadRlsPayloads(path.join(tmp, "nope.json"))).toThrow(/cannot read payload file .*nope\.json/);
  });

  it("both forms load: a bare array, and an object with a data patch", () => {
    const p = { name: "x", expectStatus: 200, request: { a: 1 } };
    expect(loadCheckPayloads(write("arr.json", JSON.stringify([p])))).toEqual({ payloads: [p] });
    expect(loadCheckPayloads(write("obj.json", JSON.stringify({ dataPatch: { g: 1 }, payloads: [p] })))).toEqual({ dataPatch: { g: 1 }, payloads: [p] });
  });

  it("deepMerge merges objects key by key and lets the patch replace anything else", () => {
    expect(deepMerge({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2], e: 3 } })).toEqual({ a: { b: 1, c: [2], e: 3 }, d: 1 });
  });

  it("preparePolicyDir patches a copy and leaves the source folder alone", () => {
    const src = mkdtempSync(path.join(tmp, "src-"));
    writeFileSync(path.join(src, "data.json"), JSON.stringify({ gateway: { tenants: { acme: {} } } }));
    const dir = preparePolicyDir({ policies: src, dataPatch: { gateway: { tenants: { bench: { role: "x" } } } }, tmpDir: tmp });
    expect(dir).not.toBe(src);
    expect(JSON.parse(readFileSync(path.join(dir, "data.json"), "utf8"))).toEqual({ gateway: { tenants: { acme: {}, bench: { role: "x" } } } });
    expect(JSON.parse(readFileSync(path.join(src, "data.json"), "utf8"))).toEqual({ gateway: { tenants: { acme: {} } } });
    expect(preparePolicyDir({ policies: src, tmpDir: tmp })).toBe(path.resolve(src));
  });
});

describe("options", () => {
  it.each([
    [["--duration", "0"], /--duration must be a positive integer/],
    [["--rounds", "two"], /--rounds must be a positive integer/],
    [["--rows", "ceiling,nope"], /unknown row "nope"/],
    [["--server-cpu", "0", "--load-cpu", "0"], /must differ/],
    [["--soak", "--profile"], /separate runs/],
    [["--extproc", "--soak"], /separate runs/],
    [["--bogus"], /Unknown option/],
    [["--tollgate-from", "."], /add --no-write/],
    [["--tollgate-from", "/nonexistent/checkout", "--no-write"], /no bin\/tollgate.mjs and dist\/ there/],
  ])("%j is refused", (argv, msg) => {
    expect(() => parseOptions(argv)).toThrow(msg);
  });

  it("defaults: every row, 10 s, 2 rounds, servers on CPU 1 and load on CPU 0", () => {
    const o = parseOptions([]);
    expect(o).not.toBe("help");
    if (o === "help") return;
    expect({ mode: o.mode, d: o.durationSeconds, r: o.rounds, rows: o.rows.length, s: o.serverCpu, l: o.loadCpu, soak: o.soakCount }).toEqual({ mode: "compare", d: 10, r: 2, rows: 10, s: 1, l: 0, soak: 1_000_000 });
  });

  it("--tollgate-from runs the tollgate rows from another built checkout; by default this one", () => {
    const other = mkdtempSync(path.join(os.tmpdir(), "tollgate-from-"));
    mkdirSync(path.join(other, "bin"));
    mkdirSync(path.join(other, "dist"));
    writeFileSync(path.join(other, "bin", "tollgate.mjs"), "");
    const o = parseOptions(["--tollgate-from", other, "--no-write"]);
    const d = parseOptions([]);
    if (o === "help" || d === "help") throw new Error("help");
    expect(o.tollgateRoot).toBe(other);
    expect(d.tollgateRoot).toBe(path.resolve(import.meta.dirname, "..", ".."));
  });

  it.each([
    ["a compare run of every row ends with the ext_proc rows", [], "compare", true],
    ["--rows picks ghz rows only", ["--rows", "ceiling"], "compare", false],
    ["--extproc runs only the ext_proc rows", ["--extproc"], "extproc", true],
    ["--soak leaves them out", ["--soak"], "soak", false],
  ])("%s", (_t, argv, mode, extproc) => {
    const o = parseOptions(argv);
    if (o === "help") throw new Error("help");
    expect({ mode: o.mode, extproc: o.extproc }).toEqual({ mode, extproc });
  });
});

describe("process and profile readings", () => {
  it.each([
    ["a plain gauge", "tollgate_wasm_memory_bytes", 1048576],
    ["a labelled gauge", "tollgate_nodejs_heap_size_used_bytes", 52428800],
    ["a name that is only a prefix of another", "tollgate_nodejs_heap", Number.NaN],
    ["an absent gauge", "nope", Number.NaN],
  ])("gauge() reads %s from /metrics text", (_t, name, want) => {
    const text = "# HELP x\ntollgate_wasm_memory_bytes 1048576\ntollgate_nodejs_heap_size_used_bytes{space=\"all\"} 5.24288e+7\n";
    expect(gauge(text, name)).toEqual(want);
  });

  it("reads this process's CPU seconds and RSS from /proc", () => {
    const cpu0 = readCpuSeconds(process.pid);
    const until = Date.now() + 60;
    while (Date.now() < until) Math.sqrt(Math.random());
    expect(readCpuSeconds(process.pid)).toBeGreaterThan(cpu0);
    expect(readRssBytes(process.pid)).toBeGreaterThan(10 * 2 ** 20);
  });

  it("a profile's self time is split by function and area, idle excluded from the shares", () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", "") },
        { id: 2, callFrame: frame("(idle)", "") },
        { id: 3, callFrame: frame("evaluate", "file:///x/node_modules/@open-policy-agent/opa-wasm/src/opa.js") },
        { id: 4, callFrame: frame("check", "file:///x/dist/authz/check.js") },
      ],
      samples: [2, 3, 3, 4, 2],
      timeDeltas: [5000, 3000, 3000, 2000, 1000],
    };
    const s = summariseProfile(profile);
    expect({ busy: s.busyMs, idle: s.idleMs }).toEqual({ busy: 8, idle: 6 });
    expect(s.areas).toEqual([
      { name: "@open-policy-agent/opa-wasm", selfMs: 6, share: 0.75 },
      { name: "tollgate authz", selfMs: 2, share: 0.25 },
    ]);
    expect(() => summariseProfile({} as never)).toThrow(/not a V8 CPU profile/);
  });

  it.each([
    [{ functionName: "(garbage collector)", url: "", lineNumber: 0 }, "(garbage collector)"],
    [{ functionName: "writeUtf8String", url: "", lineNumber: 0 }, "(native)"],
    [{ functionName: "x", url: "node:internal/http2/core", lineNumber: 0 }, "node internals"],
    [{ functionName: "x", url: "file:///w/dist/limits/redis/redis-store.js", lineNumber: 0 }, "tollgate limits/redis"],
    [{ functionName: "x", url: "file:///w/node_modules/ioredis/built/Command.js", lineNumber: 0 }, "ioredis"],
  ])("areaOf(%j) = %s", (frame, want) => {
    expect(areaOf(frame)).toBe(want);
  });
});
