import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SecretResolver } from "../../src/authz/secrets.js";
import { maskString, MASK } from "../../src/observability/mask.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "tg-secrets-"));
const secrets = path.join(dir, "secrets");
mkdirSync(secrets);
writeFileSync(path.join(secrets, "anthropic"), "sk-ant-from-file-123456\n");
writeFileSync(path.join(dir, "outside"), "not-for-policies");
symlinkSync(path.join(dir, "outside"), path.join(secrets, "sneaky"));
writeFileSync(path.join(secrets, "crlf"), "abc\r\nx-injected: 1");

const resolver = new SecretResolver({ env: { OPENAI_API_KEY: "sk-env-openai-abcdef", TOLLGATE_ADMIN_TOKEN: "admin-token-value-1234" }, secretsDir: secrets });
const resolve = (template: string) => resolver.resolve([["authorization", template]])[0]![1];

describe("secret references in upstream headers", () => {
  it.each([
    ["env reference inside a template", "Bearer ${env:OPENAI_API_KEY}", "Bearer sk-env-openai-abcdef"],
    ["file reference, trimmed", "${file:anthropic}", "sk-ant-from-file-123456"],
    ["absolute file reference inside the folder", `\${file:${path.join(secrets, "anthropic")}}`, "sk-ant-from-file-123456"],
    ["no reference at all", "plain", "plain"],
  ])("%s", (_n, template, expected) => {
    expect(resolve(template)).toBe(expected);
  });

  it.each([
    ["an unset variable", "${env:NOPE_API_KEY}", /env:NOPE_API_KEY is not set/],
    ["tollgate's own settings", "${env:TOLLGATE_ADMIN_TOKEN}", /env:TOLLGATE_ADMIN_TOKEN is not allowed/],
    ["a path that climbs out of the folder", "${file:../outside}", /is outside/],
    ["an absolute path elsewhere", "${file:/etc/hostname}", /is outside/],
    ["a symlink pointing out of the folder", "${file:sneaky}", /is outside/],
    ["a missing file", "${file:missing}", /file:missing is not set/],
    ["a value with CR/LF (header smuggling)", "${file:crlf}", /control characters/],
  ])("%s – refused with a reason that carries no secret", (_n, template, message) => {
    expect(() => resolve(template)).toThrow(message);
    try {
      resolve(template);
    } catch (err) {
      expect(String(err)).not.toMatch(/admin-token-value|not-for-policies/);
    }
  });

  it("every resolved value is masked in logs from then on", () => {
    resolve("${file:anthropic}");
    expect(maskString("upstream said sk-ant-from-file-123456")).toBe(`upstream said ${MASK}`);
  });
});
