import { describe, expect, test } from "vitest";
import { TollgateError } from "../../src/errors.js";
import { parseRedisUrl, redact, type RedisTarget } from "../../src/limits/redis/redis-url.js";

describe("parseRedisUrl", () => {
  const good: Array<{ url: string; cluster?: boolean | Array<{ host: string; port: number }>; want: RedisTarget }> = [
    { url: "redis://127.0.0.1:6379", want: { cluster: false, tls: false, nodes: [{ host: "127.0.0.1", port: 6379 }] } },
    { url: "redis://redis.internal", want: { cluster: false, tls: false, nodes: [{ host: "redis.internal", port: 6379 }] } },
    { url: "REDIS://h:1/3", want: { cluster: false, tls: false, nodes: [{ host: "h", port: 1 }], db: 3 } },
    { url: "redis://h:7000/", want: { cluster: false, tls: false, nodes: [{ host: "h", port: 7000 }] } },
    {
      url: "rediss://user:p%40ss%3Aword@h:6380/0",
      want: { cluster: false, tls: true, nodes: [{ host: "h", port: 6380 }], username: "user", password: "p@ss:word", db: 0 },
    },
    { url: "redis://:secret@h", want: { cluster: false, tls: false, nodes: [{ host: "h", port: 6379 }], password: "secret" } },
    { url: "redis://[::1]:6390", want: { cluster: false, tls: false, nodes: [{ host: "::1", port: 6390 }] } },
    {
      url: "redis+cluster://a:7000,b:7001,[::1]",
      want: { cluster: true, tls: false, nodes: [{ host: "a", port: 7000 }, { host: "b", port: 7001 }, { host: "::1", port: 6379 }] },
    },
    {
      url: "rediss+cluster://u:pw@a:7000",
      want: { cluster: true, tls: true, nodes: [{ host: "a", port: 7000 }], username: "u", password: "pw" },
    },
    { url: "redis://seed:7000", cluster: true, want: { cluster: true, tls: false, nodes: [{ host: "seed", port: 7000 }] } },
    { url: "redis+cluster://a:7000/0", want: { cluster: true, tls: false, nodes: [{ host: "a", port: 7000 }] } },
    {
      url: "rediss://:pw@ignored:1",
      cluster: [{ host: "n1", port: 7000 }, { host: "n2", port: 7001 }],
      want: { cluster: true, tls: true, nodes: [{ host: "n1", port: 7000 }, { host: "n2", port: 7001 }], password: "pw" },
    },
  ];
  test.each(good)("$url (cluster: $cluster) parses", ({ url, cluster, want }) => {
    expect(parseRedisUrl(url, cluster)).toEqual(want);
  });

  const bad: Array<{ url: string; cluster?: boolean | Array<{ host: string; port: number }>; message: RegExp }> = [
    { url: "http://h:6379", message: /expected redis:\/\// },
    { url: "h:6379", message: /expected redis:\/\// },
    { url: "", message: /expected redis:\/\// },
    { url: "redis://", message: /no host given/ },
    { url: "redis://h:0", message: /port of h must be an integer in 1\.\.65535/ },
    { url: "redis://h:70000", message: /port of h must be an integer/ },
    { url: "redis://h:abc", message: /port of h must be a number, got "abc"/ },
    { url: "redis://h:", message: /port of h must be a number/ },
    { url: "redis://h/x", message: /the path must be a database number/ },
    { url: "redis://h?db=1", message: /query parameters/ },
    { url: "redis://a:1,b:2", message: /several hosts need the redis\+cluster:\/\/ form/ },
    { url: "redis+cluster://a:1/2", message: /Redis Cluster has only database 0/ },
    { url: "redis://::1:6379", message: /put IPv6 hosts in brackets/ },
    { url: "redis://[::1:6379", message: /unclosed IPv6 bracket/ },
    { url: "redis://a:1,,b:2", cluster: true, message: /empty host/ },
    { url: "redis://u:%E0%A4%A@h", message: /credentials are not valid percent-encoding/ },
    { url: "redis://h", cluster: [{ host: "", port: 1 }], message: /every cluster node needs a host/ },
    { url: "redis://h", cluster: [], message: /no host given/ },
  ];
  test.each(bad)("$url (cluster: $cluster) is refused with config_error", ({ url, cluster, message }) => {
    let caught: unknown;
    try {
      parseRedisUrl(url, cluster);
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TollgateError);
    expect((caught as TollgateError).code).toBe("config_error");
    expect((caught as TollgateError).message).toMatch(message);
  });

  test("error messages never contain the password", () => {
    expect(() => parseRedisUrl("redis://user:hunter2@h:bad")).toThrow(/redis:\/\/user:\*\*\*@h:bad/);
    expect(() => parseRedisUrl("redis://user:hunter2@h:bad")).not.toThrow(/hunter2/);
  });

  test.each([
    ["redis://user:pw@h:1", "redis://user:***@h:1"],
    ["redis://:pw@h", "redis://:***@h"],
    ["redis://user@h", "redis://user@h"],
    ["redis://h:1", "redis://h:1"],
  ])("redact(%s) is %s", (url, want) => {
    expect(redact(url)).toBe(want);
  });
});
