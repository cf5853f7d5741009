import { TollgateError } from "../../errors.js";

export interface RedisNode {
  host: string;
  port: number;
}

/** Where and how to connect, parsed from the store URL. */
export interface RedisTarget {
  cluster: boolean;
  tls: boolean;
  /** One node for a single server; the startup (seed) nodes for a cluster. */
  nodes: RedisNode[];
  username?: string;
  password?: string;
  db?: number;
}

export const DEFAULT_REDIS_PORT = 6379;

/**
 * Accepted forms:
 *   redis://[user[:password]@]host[:port][/db]       one server
 *   rediss://...                                      the same over TLS
 *   redis+cluster://[user[:password]@]h1[:p1],h2[:p2]  Redis Cluster, from one or more seed nodes
 *   rediss+cluster://...                              Redis Cluster over TLS
 * `cluster: true` turns a redis:// URL into a cluster seed; `cluster: [nodes]` uses those nodes as
 * the seeds (the URL still gives TLS and credentials). IPv6 hosts go in brackets: [::1]:6379.
 * Credentials are percent-decoded. Clusters have only db 0.
 */
export function parseRedisUrl(url: string, cluster: boolean | readonly RedisNode[] = false): RedisTarget {
  if (typeof url !== "string") throw bad(String(url), "the URL must be a string");
  const match = /^(rediss?)(\+cluster)?:\/\/(.*)$/i.exec(url);
  if (match === null) {
    throw bad(url, "expected redis://, rediss://, redis+cluster:// or rediss+cluster://");
  }
  const scheme = (match[1] ?? "").toLowerCase();
  let rest = match[3] ?? "";
  const target: RedisTarget = { cluster: match[2] !== undefined || cluster !== false, tls: scheme === "rediss", nodes: [] };

  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    Object.assign(target, parseCredentials(url, rest.slice(0, at)));
    rest = rest.slice(at + 1);
  }
  if (rest.includes("?") || rest.includes("#")) throw bad(url, "query parameters and fragments are not supported");
  const slash = rest.indexOf("/");
  const hostList = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : "";
  if (path !== "") {
    if (!/^\d+$/.test(path)) throw bad(url, `the path must be a database number, got "/${path}"`);
    target.db = Number(path);
  }

  const urlNodes = hostList === "" ? [] : hostList.split(",").map((h) => parseNode(url, h));
  target.nodes = Array.isArray(cluster) ? cluster.map((n) => checkNode(url, n)) : urlNodes;
  if (target.nodes.length === 0) throw bad(url, "no host given");
  if (!target.cluster && target.nodes.length > 1) {
    throw bad(url, "several hosts need the redis+cluster:// form (or the cluster option)");
  }
  if (target.cluster && target.db !== undefined && target.db !== 0) {
    throw bad(url, "Redis Cluster has only database 0");
  }
  if (target.cluster) delete target.db;
  return target;
}

function parseCredentials(url: string, userinfo: string): { username?: string; password?: string } {
  const colon = userinfo.indexOf(":");
  const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  const rawPassword = colon >= 0 ? userinfo.slice(colon + 1) : undefined;
  try {
    const out: { username?: string; password?: string } = {};
    if (rawUser !== "") out.username = decodeURIComponent(rawUser);
    if (rawPassword !== undefined && rawPassword !== "") out.password = decodeURIComponent(rawPassword);
    return out;
  } catch (err: unknown) {
    throw new TollgateError("config_error", `invalid Redis URL ${redact(url)}: credentials are not valid percent-encoding`, { cause: err });
  }
}

function parseNode(url: string, text: string): RedisNode {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw bad(url, `unclosed IPv6 bracket in "${text}"`);
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw bad(url, `unexpected "${after}" after "${text.slice(0, close + 1)}"`);
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const parts = text.split(":");
    if (parts.length > 2) throw bad(url, `"${text}" has several ':' (put IPv6 hosts in brackets)`);
    host = parts[0] ?? "";
    portText = parts[1];
  }
  if (host === "") throw bad(url, `empty host in "${text}"`);
  if (portText !== undefined && !/^\d{1,5}$/.test(portText)) throw bad(url, `port of ${host} must be a number, got "${portText}"`);
  return checkNode(url, { host, port: portText === undefined ? DEFAULT_REDIS_PORT : Number(portText) });
}

function checkNode(url: string, node: RedisNode): RedisNode {
  if (typeof node !== "object" || node === null || typeof node.host !== "string" || node.host === "") {
    throw bad(url, "every cluster node needs a host");
  }
  if (!Number.isInteger(node.port) || node.port < 1 || node.port > 65535) {
    throw bad(url, `port of ${node.host} must be an integer in 1..65535`);
  }
  return { host: node.host, port: node.port };
}

/** The URL with any password replaced, safe for logs and error messages. */
export function redact(url: string): string {
  return url.replace(/^([^:]+:\/\/)([^@]*)@/, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}${userinfo}@`;
  });
}

function bad(url: string, reason: string): TollgateError {
  return new TollgateError("config_error", `invalid Redis URL ${redact(url)}: ${reason}`);
}
