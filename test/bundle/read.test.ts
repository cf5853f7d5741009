import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { normalizeBundlePath, readBundleArchive, type BundleLimits } from "../../src/bundle/read.js";
import { TollgateError } from "../../src/errors.js";
import { paxRecord, tar, tarGz, type TarEntry } from "./support/tar.js";

function files(bytes: Buffer, limits: Partial<BundleLimits> = {}): Record<string, string> {
  return Object.fromEntries([...readBundleArchive(bytes, limits).files].map(([k, v]) => [k, v.toString()]));
}

function refusal(fn: () => unknown): TollgateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).code).toBe("policy_build_error");
    return err as TollgateError;
  }
  throw new Error("expected a refusal");
}

describe("reading a bundle archive", () => {
  it("keeps regular files in archive order with normalized paths, and the archive's SHA-256", () => {
    const bytes = tarGz([
      { name: "/data.json", content: "{}" },
      { name: "./envoy/authz.rego", content: "package envoy.authz" },
      { name: "policy.wasm", content: "wasm" },
      { name: "/.manifest", content: '{"revision":"r"}' },
    ]);
    const archive = readBundleArchive(bytes);
    expect([...archive.files.keys()]).toEqual(["data.json", "envoy/authz.rego", "policy.wasm", ".manifest"]);
    expect(archive.files.get("policy.wasm")?.toString()).toBe("wasm");
    expect(archive.digest).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(archive.size).toBe(bytes.length);
  });

  it("skips directories, symlinks and hard links, as OPA's tarball loader does (nothing is written anywhere)", () => {
    const entries: TarEntry[] = [
      { name: "/envoy/", type: "5" },
      { name: "/link", type: "2", linkname: "/etc/passwd" },
      { name: "/hard", type: "1", linkname: "/etc/shadow" },
      { name: "/dir-old-style/", type: "\0" },
      { name: "/old-style-file", type: "\0", content: "x" },
    ];
    expect(files(tarGz(entries))).toEqual({ "old-style-file": "x" });
  });

  it("reads long names from PAX headers, GNU long-name entries and the ustar prefix", () => {
    const long = `${"d".repeat(120)}/data.json`;
    const bytes = tarGz([
      { name: "PaxHeader", type: "x", content: paxRecord("path", `/a/${long}`) },
      { name: "ignored-short-name", content: "pax" },
      { name: "././@LongLink", type: "L", content: `/b/${long}\0` },
      { name: "ignored-too", content: "gnu" },
      { name: "data.json", prefix: "/c/deep", content: "prefix" },
    ]);
    expect(files(bytes)).toEqual({ [`a/${long}`]: "pax", [`b/${long}`]: "gnu", "c/deep/data.json": "prefix" });
  });

  it.each([
    ["../escape.rego"],
    ["/a/../../escape.rego"],
    ["a/./b"],
    ["a//b"],
    ["..\\windows.rego"],
    ["/"],
  ])("path %j is refused as unsafe", (name) => {
    const e = refusal(() => readBundleArchive(tarGz([{ name, content: "x" }])));
    expect(e.message).toBe(`bundle archive: unsafe path ${JSON.stringify(name)}`);
  });

  it("a traversal hidden in a PAX path is refused too", () => {
    const bytes = tarGz([{ name: "h", type: "x", content: paxRecord("path", "../../etc/cron.d/x") }, { name: "safe", content: "x" }]);
    expect(refusal(() => readBundleArchive(bytes)).message).toBe('bundle archive: unsafe path "../../etc/cron.d/x"');
  });

  it("the same path twice is refused", () => {
    const bytes = tarGz([{ name: "/data.json", content: "{}" }, { name: "data.json", content: '{"a":1}' }]);
    expect(refusal(() => readBundleArchive(bytes)).message).toBe("bundle archive: file data.json appears twice");
  });

  it.each([
    ["archive over maxArchiveBytes", { maxArchiveBytes: 100 }, () => tarGz([{ name: "a", content: randomBytes(500) }]), /^bundle archive: size \d+ bytes exceeds the limit of 100 bytes$/],
    ["a gzip bomb over maxUncompressedBytes", { maxUncompressedBytes: 64 * 1024 }, () => tarGz([{ name: "zeros", content: Buffer.alloc(1024 * 1024) }]), /^bundle archive: uncompressed size exceeds the limit of 65536 bytes$/],
    ["one file over maxFileBytes", { maxFileBytes: 10 }, () => tarGz([{ name: "big.json", content: "x".repeat(11) }]), /^bundle archive: file big\.json is 11 bytes, above the limit of 10 bytes$/],
    ["more files than maxFiles", { maxFiles: 2 }, () => tarGz(["a", "b", "c"].map((name) => ({ name, content: name }))), /^bundle archive: more than 2 files$/],
  ])("%s – refused", (_name, limits, bytes, message) => {
    expect(refusal(() => readBundleArchive(bytes(), limits)).message).toMatch(message);
  });

  it("exactly at each limit is accepted", () => {
    const bytes = tarGz([{ name: "a", content: "x".repeat(10) }, { name: "b", content: "y" }]);
    expect(files(bytes, { maxFileBytes: 10, maxFiles: 2, maxArchiveBytes: bytes.length })).toEqual({ a: "x".repeat(10), b: "y" });
  });

  it.each([
    ["not gzip at all", () => Buffer.from("hello"), /^bundle archive: not a gzip stream/],
    ["a truncated gzip stream", () => tarGz([{ name: "a", content: "x".repeat(4000) }]).subarray(0, 40), /^bundle archive: not a gzip stream/],
    ["a tar header with a bad checksum", () => gzipSync(Buffer.concat([Buffer.from("garbage".padEnd(512, "g")), Buffer.alloc(1024)])), /^bundle archive: invalid tar header at offset 0$/],
    ["a file whose data runs past the end", () => gzipSync(tar([{ name: "a", content: "x".repeat(600) }]).subarray(0, 1024)), /^bundle archive: truncated archive$/],
    ["a malformed PAX record", () => tarGz([{ name: "h", type: "x", content: "99 path=x\n" }, { name: "a", content: "x" }]), /^bundle archive: malformed PAX header$/],
  ])("%s – refused with a clear error, never a crash", (_name, bytes, message) => {
    expect(refusal(() => readBundleArchive(bytes())).message).toMatch(message);
  });

  it("an empty archive reads as no files", () => {
    expect(files(gzipSync(Buffer.alloc(1024)))).toEqual({});
  });
});

describe("normalizeBundlePath", () => {
  it.each([
    ["/policy.wasm", "policy.wasm"],
    ["./data.json", "data.json"],
    ["/./a/b.rego", "a/b.rego"],
    ["//x", "x"],
    [".manifest", ".manifest"],
  ])("%j → %j", (raw, normalized) => {
    expect(normalizeBundlePath(raw)).toBe(normalized);
  });
});
