import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { copySources, dockerIgnored, parseDockerfile, parseInstructions, type Dockerfile } from "./support/dockerfile.js";
import { readRepoFile, readRepoJson, readRepoYaml, repoPath } from "./support/repo.js";
import { dig } from "./support/envoy-checks.js";

/** There is no Docker here; these checks read the Dockerfile the way BuildKit would. */
const text = readRepoFile("Dockerfile");
const ignore = readRepoFile(".dockerignore");

/** Problems a Dockerfile variant would cause; [] when it looks buildable and matches the repo. */
function dockerfileIssues(source: string, ignoreText: string): string[] {
  const issues: string[] = [];
  const file: Dockerfile = parseDockerfile(source);
  const names = file.stages.map((s) => s.name);
  file.stages.forEach((stage, i) => {
    const label = stage.name ?? `#${i}`;
    if (!/^[\w./-]+:[\w.-]*\d[\w.-]*$/.test(stage.image) || stage.image.endsWith(":latest")) issues.push(`${label}: base image ${stage.image} is not pinned to a version`);
    for (const { fromStage, sources } of copySources(stage)) {
      if (fromStage !== undefined) {
        if (!names.slice(0, i).includes(fromStage)) issues.push(`${label}: COPY --from=${fromStage} names no earlier stage`);
        continue;
      }
      for (const src of sources) {
        if (!existsSync(repoPath(src))) issues.push(`${label}: COPY source ${src} does not exist`);
        if (dockerIgnored(ignoreText, src)) issues.push(`${label}: COPY source ${src} is excluded by .dockerignore`);
      }
    }
  });
  for (const target of ["mock-llm", "tollgate"]) {
    const stage = file.stages.find((s) => s.name === target);
    if (!stage) issues.push(`no stage named ${target} (docker-compose.yml builds it)`);
    else if (stage.instructions.filter((x) => x.keyword === "USER").at(-1)?.args !== "node") issues.push(`${target}: must run as the unprivileged node user`);
  }
  if (file.stages.at(-1)?.name !== "tollgate") issues.push("the last stage (default target) must be tollgate");
  return issues;
}

describe("Dockerfile", () => {
  it("parses into the stages opa, build, mock-llm, tollgate with pinned base images", () => {
    const file = parseDockerfile(text);
    expect(file.stages.map((s) => [s.name, s.image])).toEqual([
      ["opa", "golang:1.26.8-alpine"],
      ["build", "node:24.22.3-bookworm-slim"],
      ["mock-llm", "node:24.22.3-bookworm-slim"],
      ["tollgate", "node:24.22.3-bookworm-slim"],
    ]);
  });

  it("has no problems: pinned images, real and non-ignored COPY sources, non-root final stages", () => {
    expect(dockerfileIssues(text, ignore)).toEqual([]);
  });

  it("builds the same opa release the tests run (go install …/opa@v1.22.3)", () => {
    const opaStage = parseDockerfile(text).stages.find((s) => s.name === "opa")!;
    const run = opaStage.instructions.find((i) => i.keyword === "RUN")!.args;
    expect(run).toContain("go install -trimpath -ldflags=\"-s -w\" github.com/open-policy-agent/opa@v1.22.3");
    const localOpa = process.env["OPA_BIN"] ?? "opa";
    expect(execFileSync(localOpa, ["version"], { encoding: "utf8" })).toMatch(/^Version: 1\.22\.3$/m);
  });

  it("installs with npm ci from the lockfile, compiles, and keeps only production dependencies", () => {
    const build = parseDockerfile(text).stages.find((s) => s.name === "build")!;
    const runs = build.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
    expect(runs).toEqual(["npm ci --no-audit --no-fund", "npx tsc -p . && npm prune --omit=dev --no-audit --no-fund"]);
    expect(existsSync(repoPath("package-lock.json"))).toBe(true);
  });

  it("starts the package's bin with serve, with opa and the container gRPC address set", () => {
    const tollgate = parseDockerfile(text).stages.find((s) => s.name === "tollgate")!;
    const get = (k: string): string[] => tollgate.instructions.filter((i) => i.keyword === k).map((i) => i.args);
    const pkg = readRepoJson("package.json") as { bin: Record<string, string> };
    expect(get("ENTRYPOINT")).toEqual([`["node", "${pkg.bin["tollgate"]}"]`]);
    expect(get("CMD")).toEqual(['["serve", "--policies", "/policies"]']);
    expect(get("ENV").join(" ")).toContain("OPA_BIN=/usr/local/bin/opa");
    expect(get("ENV").join(" ")).toContain("TOLLGATE_GRPC_ADDR=0.0.0.0:9191");
    expect(get("COPY")).toContain("--from=opa /go/bin/opa /usr/local/bin/opa");
  });

  it("runs mock-llm/server.mjs on port 8080 in the mock-llm stage, matching the compose service", () => {
    const mock = parseDockerfile(text).stages.find((s) => s.name === "mock-llm")!;
    expect(mock.instructions.map((i) => `${i.keyword} ${i.args}`)).toEqual([
      "WORKDIR /app",
      "COPY mock-llm/server.mjs ./mock-llm/server.mjs",
      "ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080",
      "USER node",
      "EXPOSE 8080",
      'CMD ["node", "mock-llm/server.mjs"]',
    ]);
    expect(dig(readRepoYaml("docker-compose.yml"), "services.mock-llm.environment.PORT")).toBe("8080");
  });

  it("keeps the build context free of secrets and bulk: .git, .env, node_modules, dist, tests", () => {
    for (const path of [".git", ".env", "node_modules", "node_modules/x/y.js", "dist/app.js", "test/deploy/x.ts", ".tmp/a"]) {
      expect(dockerIgnored(ignore, path), path).toBe(true);
    }
    for (const path of ["src/app.ts", "bin/tollgate.mjs", "package.json", "package-lock.json", "tsconfig.json", "mock-llm/server.mjs"]) {
      expect(dockerIgnored(ignore, path), path).toBe(false);
    }
  });
});

describe("broken Dockerfile variants are rejected", () => {
  const cases: { title: string; edit: (s: string) => string; ignoreEdit?: (s: string) => string; expected: string[] }[] = [
    {
      title: "an unpinned base image",
      edit: (s) => s.replace("FROM golang:1.26.8-alpine AS opa", "FROM golang:latest AS opa"),
      expected: ["opa: base image golang:latest is not pinned to a version"],
    },
    {
      title: "an image without a tag",
      edit: (s) => s.replace("ARG NODE_IMAGE=node:24.22.3-bookworm-slim", "ARG NODE_IMAGE=node"),
      expected: ["build: base image node is not pinned to a version", "mock-llm: base image node is not pinned to a version", "tollgate: base image node is not pinned to a version"],
    },
    {
      title: "COPY --from a stage that does not exist",
      edit: (s) => s.replace("COPY --from=opa /go/bin/opa", "COPY --from=opa-builder /go/bin/opa"),
      expected: ["tollgate: COPY --from=opa-builder names no earlier stage"],
    },
    {
      title: "a COPY source missing from the repository",
      edit: (s) => s.replace("COPY tsconfig.json ./", "COPY tsconfig.build.json ./"),
      expected: ["build: COPY source tsconfig.build.json does not exist"],
    },
    {
      title: "a COPY source excluded by .dockerignore",
      edit: (s) => s,
      ignoreEdit: (s) => `${s}\nsrc\n`,
      expected: ["build: COPY source src is excluded by .dockerignore"],
    },
    {
      title: "the mock-llm stage renamed (compose builds target mock-llm)",
      edit: (s) => s.replace("AS mock-llm", "AS mock"),
      expected: ["no stage named mock-llm (docker-compose.yml builds it)"],
    },
    {
      title: "tollgate running as root",
      edit: (s) => s.replace(/USER node\nEXPOSE 9191/, "EXPOSE 9191"),
      expected: ["tollgate: must run as the unprivileged node user"],
    },
    {
      title: "another stage after tollgate (changes the default target)",
      edit: (s) => `${s}\nFROM node:24.22.3-bookworm-slim AS debug\n`,
      expected: ["the last stage (default target) must be tollgate"],
    },
  ];
  it.each(cases)("$title", ({ edit, ignoreEdit, expected }) => {
    const edited = edit(text);
    if (!ignoreEdit) expect(edited, "the edit must change the Dockerfile").not.toBe(text);
    expect(dockerfileIssues(edited, ignoreEdit ? ignoreEdit(ignore) : ignore)).toEqual(expected);
  });
});

describe("Dockerfile reader", () => {
  it("joins continuation lines and drops comments inside them", () => {
    const ins = parseInstructions("# syntax=docker/dockerfile:1\nFROM a:1\nRUN one \\\n  # note\n  && two\nENV A=1 \\\n    B=2\n");
    expect(ins).toEqual([
      { keyword: "FROM", args: "a:1", line: 2 },
      { keyword: "RUN", args: "one && two", line: 3 },
      { keyword: "ENV", args: "A=1 B=2", line: 6 },
    ]);
  });

  it("matches .dockerignore patterns with *, **, ! and directory coverage", () => {
    const patterns = "*.log\n**/secret\ndocs\n!docs/keep.md\n";
    expect(dockerIgnored(patterns, "a.log")).toBe(true);
    expect(dockerIgnored(patterns, "sub/a.log")).toBe(false);
    expect(dockerIgnored(patterns, "x/y/secret")).toBe(true);
    expect(dockerIgnored(patterns, "docs/a.md")).toBe(true);
    expect(dockerIgnored(patterns, "docs/keep.md")).toBe(false);
  });
});
