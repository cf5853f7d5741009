import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { get } from "node:http";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { findOpa } from "../../src/policy/opa-cli.js";
import { BIN, serve, type Served } from "../support/cli.js";
import { goTool } from "../support/go-tools.js";
import { waitFor } from "../support/wait.js";
import { startMockLlm, type MockLlm } from "../deploy/support/mock-llm.js";
import { docCommands, headerCommentCommands, longFlags, PLACEHOLDER, type DocCommand } from "./support/doc-commands.js";
import { parseCurl, throughEnvoy } from "./support/envoy-curl.js";

// Every shell command in README.md and docs/*.md (fenced sh blocks, and inline code spans that
// start with a program), and the example atop docker-compose.yml, is either run here - against a real `tollgate serve` on a copy of the
// shipped policies, mock-llm as the provider - or, when it needs Docker or Envoy, checked for
// consistency: the files, services, ports and flags it names exist. A command no rule below
// knows fails the test, so a new doc example gets a rule when it is written.

const ROOT = path.resolve(".");
const DEMO_KEY = "tg-demo-acme-key";
const compose = parseYaml(readFileSync("docker-compose.yml", "utf8")) as { services: Record<string, { image?: string; environment?: Record<string, string> }> };
const envoy = parseYaml(readFileSync("envoy/envoy.yaml", "utf8")) as { admin: { address: { socket_address: { port_value: number } } } };
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };

const savedPath = process.env["PATH"];
let sandbox: string;
let tokenDir: string;
let served: Served;
let mock: MockLlm;
let admin: string;
const helpCache = new Map<string, string>();

function sh(command: string, env: NodeJS.ProcessEnv = {}, cwd = sandbox): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("bash", ["-c", command], { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cliHelp(sub: readonly string[]): string {
  const key = sub.join(" ");
  if (!helpCache.has(key)) helpCache.set(key, spawnSync(process.execPath, [BIN, ...sub, "--help"], { encoding: "utf8" }).stdout);
  return helpCache.get(key)!;
}

/** `keys hash x` → ["keys", "hash"]: as deep as tollgate's own help lists subcommands. */
function cliSubcommand(args: readonly string[]): string[] {
  const sub = [args[0]!];
  if (/^Commands:/m.test(cliHelp(sub)) && args[1] && !args[1].startsWith("-")) sub.push(args[1]);
  return sub;
}

/** On a fresh connection each time: the CLI processes between two calls can outlast a kept-alive one. */
function status(): Promise<{ policy: { activeRevision: string; revisions: string[] } }> {
  return new Promise((resolve, reject) => {
    get(`${admin}/v1/status`, { agent: false, timeout: 10_000 }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve(JSON.parse(text) as { policy: { activeRevision: string; revisions: string[] } }));
    }).on("error", reject);
  });
}

/** A kept revision other than the active one: what the docs' placeholder revisions stand for. */
async function otherRevision(): Promise<string> {
  const { policy } = await status();
  const other = policy.revisions.find((r) => r !== policy.activeRevision);
  if (!other) throw new Error("no second kept revision");
  return other;
}

/** The docs' example addresses, files and revisions, mapped to this run's. */
async function substitute(text: string): Promise<string> {
  let out = text
    .replaceAll("http://127.0.0.1:8181", admin)
    .replaceAll("127.0.0.1:9191", `127.0.0.1:${served.port}`)
    .replaceAll("/var/lib/tollgate/audit.jsonl", path.join(sandbox, "tollgate-audit.jsonl"));
  for (const placeholder of ["3f2a…", "3f1c2a8e5b7d4e21"]) if (out.includes(placeholder)) out = out.replaceAll(placeholder, await otherRevision());
  return out.replaceAll(`${PLACEHOLDER}key`, DEMO_KEY);
}

/** Commands that cannot run here, with the reason; they get the consistency checks only. */
function notRunnable(cmd: DocCommand): string | undefined {
  if (cmd.text.includes("https://tollgate:8181")) return "the compose host name and its CA";
  if (cmd.words[cmd.words[0] === "node" ? 2 : 1] === "serve") return "this test's own server is that command";
  if (cmd.words.some((w) => w.startsWith(PLACEHOLDER) && w !== `${PLACEHOLDER}key`)) return "a placeholder";
  if (cmd.inline && /^(rollback|promote)$/.test(cmd.words[cmd.words[0] === "node" ? 2 : 1] ?? "")) return "a mention in prose of a change the fenced examples make";
  return undefined;
}

function expectFilesExist(words: readonly string[], cmd: DocCommand): void {
  for (const w of words) {
    if (/^(\.\/)?(src|test|bench|policies|envoy|docs|ratelimit|mock-llm|examples)\//.test(w)) expect(existsSync(path.join(ROOT, w)), `${cmd.file}:${cmd.line} names ${w}`).toBe(true);
  }
}

async function tollgate(cmd: DocCommand): Promise<void> {
  const args = cmd.words.slice(cmd.words[0] === "node" ? 2 : 1);
  const sub = cliSubcommand(args);
  const help = cliHelp(sub);
  expect(help, `tollgate ${sub.join(" ")} exists`).toMatch(/^Usage: tollgate /);
  for (const flag of longFlags(args)) expect(help, `${cmd.file}:${cmd.line}: tollgate ${sub.join(" ")} ${flag}`).toContain(flag);
  expectFilesExist(args, cmd);
  if (notRunnable(cmd)) return;
  const r = sh(await substitute(cmd.text), { TOLLGATE_HTTP_ADDR: new URL(admin).host, TOLLGATE_ADMIN_LOCAL_TOKEN_DIR: tokenDir, TOLLGATE_ADMIN_TOKEN: "" });
  expect(r.status, `${cmd.text}\n${r.stderr}`).toBe(0);
  const format = args[args.indexOf("--format") + 1];
  const out = args.includes("--out") ? readFileSync(path.join(sandbox, args[args.indexOf("--out") + 1]!), "utf8") : r.stdout;
  if (sub[0] === "report" && format === "html") expect(out).toMatch(/^<!doctype html>/);
  if (sub[0] === "report" && format === "json") expect(JSON.parse(out)).toHaveProperty("controls");
  if (sub[0] === "report" && format === "csv") expect(out.split("\n")[0]).toContain(",");
  if (sub[0] === "rollback" || sub[0] === "promote") expect(JSON.parse(r.stdout)).toMatchObject({ action: sub[0] });
  if (sub.join(" ") === "keys hash") expect(readFileSync(path.join(ROOT, "policies/data.json"), "utf8")).toContain(r.stdout.trim());
  if (sub.join(" ") === "audit show") {
    // The activations record the real `opa test` counts of the policies they activated.
    const passed = /^PASS: (\d+)\//m.exec(spawnSync(findOpa(), ["test", path.join(sandbox, "policies")], { encoding: "utf8" }).stdout)![1];
    expect(r.stdout).toContain(`activation revision=`);
    expect(r.stdout).toContain(`tests="${passed} passed/0 failed"`);
    expect(r.stdout).not.toContain("?");
  }
}

async function curl(cmd: DocCommand): Promise<void> {
  const req = parseCurl(cmd.words);
  if (req.url.host === "localhost:10000") {
    // Envoy's listener (envoy/envoy.yaml, published by compose on 127.0.0.1:10000).
    const result = await throughEnvoy(req, { grpcPort: served.port, upstreams: { "mock-llm": mock.url } });
    expect(result.check.status?.code, `${cmd.file}:${cmd.line} denied: ${JSON.stringify(result.check.deniedResponse?.body)}`).toBe(0);
    expect(result.upstream).toBe("mock-llm");
    expect(result.response?.status, `${cmd.file}:${cmd.line} upstream answer`).toBe(200);
    await result.response!.text();
    return;
  }
  expect(req.url.origin, `${cmd.file}:${cmd.line}: curl to an address this test does not know`).toBe("http://127.0.0.1:8181");
  const token = readFileSync(path.join(tokenDir, `admin-${new URL(admin).port}.token`), "utf8").trim();
  const r = sh(await substitute(cmd.text), { TOLLGATE_ADMIN_TOKEN: token });
  expect(r.status, r.stderr).toBe(0);
  const answer = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(answer, r.stdout).not.toHaveProperty("error");
}

function npm(cmd: DocCommand): void {
  const [, verb, script] = cmd.words;
  if (verb === "ci") return expect(existsSync(path.join(ROOT, "package-lock.json"))).toBe(true);
  const name = verb === "run" ? script! : verb!;
  expect(pkg.scripts, `${cmd.file}:${cmd.line}: npm script ${name}`).toHaveProperty(name);
  const extra = cmd.words.indexOf("--");
  if (extra > 0) {
    expect(pkg.scripts[name]).toMatch(/tollgate\.mjs serve$/);
    for (const flag of longFlags(cmd.words.slice(extra + 1))) expect(cliHelp(["serve"])).toContain(flag);
  }
}

function npx(cmd: DocCommand): void {
  expect(["vitest", "tsx"]).toContain(cmd.words[1]);
  expect(existsSync(path.join(ROOT, cmd.words.at(-1)!)), cmd.text).toBe(true);
}

function opa(cmd: DocCommand): void {
  const sub = cmd.words[1]!;
  const help = spawnSync(findOpa(), [sub, "--help"], { encoding: "utf8" }).stdout;
  expect(help, `opa ${sub}`).toContain(`opa ${sub}`);
  for (const w of cmd.words.slice(2)) if (/^--?[a-z]/.test(w)) expect(help, `opa ${sub} ${w}`).toMatch(new RegExp(`(^|[ ,])${w}[ ,=]`, "m"));
  expectFilesExist(cmd.words, cmd);
}

/** Options the docs may use, as `docker compose <verb> --help` (Compose v2) lists them. */
const COMPOSE_FLAGS: Record<string, string[]> = {
  up: ["-d", "--detach", "--build", "--wait", "--force-recreate", "--no-deps"],
  ps: ["-a", "--all", "--format", "-q", "--quiet"],
  logs: ["-f", "--follow", "--tail", "-t", "--timestamps", "--since"],
  exec: ["-T", "-u", "--user", "-e", "--env", "-w", "--workdir"],
  restart: ["-t", "--timeout"],
  config: ["-q", "--quiet", "--services", "--format"],
};
/** `envoy --help`: the options the docs and docker-compose.yml pass. */
const ENVOY_FLAGS = ["-c", "--config-path", "--mode", "-l", "--log-level", "--config-yaml"];

function docker(cmd: DocCommand): void {
  const services = Object.keys(compose.services);
  if (cmd.words[1] === "run") {
    // The validation example: the mounted file exists and the image is the one compose runs.
    const mount = cmd.words[cmd.words.indexOf("-v") + 1]!.replace("$PWD/", "");
    const [source, target] = mount.split(":");
    expect(existsSync(path.join(ROOT, source!))).toBe(true);
    expect(cmd.words).toContain(compose.services["envoy"]!.image);
    expect(cmd.words[cmd.words.indexOf("-c") + 1]).toBe(target);
    // Envoy's own command-line options after the image (envoy --help).
    const image = cmd.words.indexOf(compose.services["envoy"]!.image!);
    for (const flag of cmd.words.slice(image + 1).filter((w) => w.startsWith("-"))) expect(ENVOY_FLAGS, flag).toContain(flag);
    return;
  }
  expect(cmd.words[1]).toBe("compose");
  const verb = cmd.words[2]!;
  expect(Object.keys(COMPOSE_FLAGS)).toContain(verb);
  // Docker is not installed here: the flags are checked against what `docker compose <verb> --help` lists.
  const pipe = cmd.words.indexOf("|");
  const own = cmd.words.slice(3, pipe < 0 ? undefined : pipe);
  const flagEnd = verb === "exec" ? own.findIndex((w) => !w.startsWith("-")) : own.length;
  for (const flag of own.slice(0, flagEnd < 0 ? own.length : flagEnd).filter((w) => w.startsWith("-"))) {
    expect(COMPOSE_FLAGS[verb], `${cmd.file}:${cmd.line}: docker compose ${verb} ${flag}`).toContain(flag);
  }
  const names = cmd.words.slice(3).filter((w) => !w.startsWith("-"));
  const end = names.findIndex((w) => w === "|");
  const named = verb === "exec" ? names.slice(0, 1) : end < 0 ? names : names.slice(0, end);
  for (const s of named) expect(services, `${cmd.file}:${cmd.line}: compose service ${s}`).toContain(s);
  if (verb === "exec" && named[0] === "envoy") expect(cmd.text).toContain(`/dev/tcp/127.0.0.1/${envoy.admin.address.socket_address.port_value}`);
}

/** `docker compose exec mock-llm node -e "<script>"`: the script runs here against mock-llm, on its port. */
async function mockLlmScript(cmd: DocCommand): Promise<void> {
  expect(cmd.text).toContain(`127.0.0.1:${compose.services["mock-llm"]!.environment!["PORT"]}`);
  const script = cmd.words[cmd.words.indexOf("-e") + 1]!.replace(/http:\/\/127\.0\.0\.1:\d+/, mock.url);
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toHaveProperty("headers");
}

const commands = [...docCommands(ROOT), ...headerCommentCommands(ROOT, "docker-compose.yml")];

describe("README.md and docs/*.md commands", () => {
  beforeAll(async () => {
    sandbox = mkdtempSync(path.join(os.tmpdir(), "tollgate-docs-"));
    tokenDir = path.join(sandbox, "tokens");
    for (const dir of ["bin", "test"]) symlinkSync(path.join(ROOT, dir), path.join(sandbox, dir));
    cpSync(path.join(ROOT, "policies"), path.join(sandbox, "policies"), { recursive: true });
    cpSync(path.join(ROOT, "policies"), path.join(sandbox, "candidate"), { recursive: true });
    edit(path.join(sandbox, "candidate/data.json"), "candidate");
    // `tollgate` on PATH, as an npm-installed package would put it.
    mkdirSync(path.join(sandbox, "path"));
    writeFileSync(path.join(sandbox, "path/tollgate"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(path.join(sandbox, "path/tollgate"), 0o755);
    process.env["PATH"] = `${path.join(sandbox, "path")}:${path.dirname(goTool("grpcurl"))}:${process.env["PATH"]}`;
    // The bundle signing example's key pair, and its `git rev-parse` run outside the repository.
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(path.join(sandbox, "private.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(path.join(sandbox, "public.pem"), publicKey.export({ type: "spki", format: "pem" }));
    process.env["GIT_DIR"] = spawnSync("git", ["rev-parse", "--absolute-git-dir"], { encoding: "utf8" }).stdout.trim();

    mock = await startMockLlm();
    served = await serve(["--policies", path.join(sandbox, "policies"), "--candidate-policies", path.join(sandbox, "candidate"), "--audit-file", path.join(sandbox, "tollgate-audit.jsonl"), "--admin-local-token-dir", tokenDir], { TOLLGATE_ADMIN_TOKEN: "" });
    admin = `http://127.0.0.1:${/"admin_port":(\d+)/.exec(served.output.join(""))![1]}`;
    // A second revision, so the rollback examples have somewhere to go.
    edit(path.join(sandbox, "policies/data.json"), "second revision");
    await waitFor(async () => (await status()).policy.revisions.length === 2, 30_000, "the second revision");
  }, 90_000);

  afterAll(async () => {
    delete process.env["GIT_DIR"];
    process.env["PATH"] = savedPath;
    served?.proc.kill("SIGTERM");
    await served?.exited;
    await mock?.stop();
    rmSync(sandbox, { recursive: true, force: true });
  });

  it("finds the commands (fenced and inline) in every file that has some", () => {
    expect(commands.length).toBeGreaterThan(60);
    expect(new Set(commands.map((c) => c.file))).toEqual(new Set(["README.md", "docs/operations.md", "docs/policy-limits.md", "docs/policy-updates.md", "docs/run-with-envoy.md", "docs/token-estimate.md", "docs/usage-extraction.md", "docker-compose.yml"]));
  });

  it.each(commands.map((c) => [`${c.file}:${c.line} ${c.text.slice(0, 90)}`, c] as const))("%s", async (_name, cmd) => {
    const program = cmd.words[0] === "node" && cmd.words[1] === "bin/tollgate.mjs" ? "tollgate" : cmd.words[0]!;
    switch (program) {
      case "tollgate":
        return tollgate(cmd);
      case "curl":
        return curl(cmd);
      case "grpcurl": {
        const r = sh(await substitute(cmd.text), {}, ROOT);
        expect(r.status, r.stderr).toBe(0);
        return expect(JSON.parse(r.stdout)).toHaveProperty("okResponse");
      }
      case "npm":
        return npm(cmd);
      case "npx":
        return npx(cmd);
      case "opa":
        return opa(cmd);
      case "docker":
        return cmd.words[3] === "mock-llm" ? mockLlmScript(cmd) : docker(cmd);
      case "cp":
        return expect(existsSync(path.join(ROOT, cmd.words[1]!))).toBe(true);
      case "openssl":
      case "printf": {
        // The certificate recipe runs in order in one folder; `openssl rand` stands alone.
        const r = sh(cmd.text, {}, path.join(sandbox));
        return expect(r.status, `${cmd.text}\n${r.stderr}`).toBe(0);
      }
      default:
        throw new Error(`${cmd.file}:${cmd.line}: no rule for "${program}" commands; add one to this test`);
    }
  }, 120_000);

  it("docker-compose.yml's envoy command passes only Envoy options", () => {
    const command = (parseYaml(readFileSync("docker-compose.yml", "utf8")) as { services: { envoy: { command: string[] } } }).services.envoy.command;
    for (const flag of command.filter((w) => w.startsWith("-"))) expect(ENVOY_FLAGS).toContain(flag);
  });

  it("the certificate recipe gives a server and a client certificate the CA verifies", () => {
    const r = sh("openssl verify -CAfile ca.crt tollgate.crt envoy-client.crt");
    expect(r.stdout, r.stderr).toBe("tollgate.crt: OK\nenvoy-client.crt: OK\n");
  });
});

function edit(file: string, marker: string): void {
  const data = JSON.parse(readFileSync(file, "utf8")) as { gateway: { tenants: { acme: { description: string } } } };
  data.gateway.tenants.acme.description += ` (${marker})`;
  writeFileSync(file, JSON.stringify(data, null, 2));
}
