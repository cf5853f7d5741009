import { credentials, type ServiceError } from "@grpc/grpc-js";
import { AuthorizationClient, type CheckResponse } from "../../../src/gen/envoy/service/auth/v3/external_auth.js";
import { checkRequest } from "../../support/app.js";

/** What a documented `curl` sends: method, URL, headers, body. */
export interface CurlRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Reads the curl flags the docs use; any other flag is an error, so a new one gets looked at. */
export function parseCurl(words: readonly string[]): CurlRequest {
  const headers: Record<string, string> = {};
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === "|" || w === ">") break;
    if (/^-[sN]+$/.test(w)) continue;
    if (w === "-H") {
      const [name, ...rest] = words[++i]!.split(":");
      headers[name!.trim().toLowerCase()] = rest.join(":").trim();
    } else if (w === "-d") body = words[++i]!;
    else if (w === "-X") method = words[++i]!;
    else if (w.startsWith("-")) throw new Error(`curl flag ${w} is not understood by this test: teach parseCurl`);
    else url = /^https?:\/\//.test(w) ? w : `http://${w}`;
  }
  if (url === undefined) throw new Error(`no URL in curl ${words.join(" ")}`);
  // curl -d sends a form content-type unless one is given, and POST unless -X says otherwise.
  if (body !== undefined) headers["content-type"] ??= "application/x-www-form-urlencoded";
  return { method: method ?? (body === undefined ? "GET" : "POST"), url: new URL(url), headers, body };
}

/**
 * Envoy's side of a request through envoy/envoy.yaml, for a documented curl: the CheckRequest
 * Envoy's ext_authz filter sends (headers lowercased, pseudo-headers, the whole body as UTF-8),
 * answered by a real tollgate; on OK, the header mutations applied and the request forwarded to
 * the upstream the x-tollgate-upstream header names (mock-llm here). Not Envoy itself, which
 * cannot run on this machine.
 */
export async function throughEnvoy(req: CurlRequest, opts: { grpcPort: number; upstreams: Record<string, string> }): Promise<{ check: CheckResponse; upstream?: string; response?: Response }> {
  const path = req.url.pathname + req.url.search;
  const headers = { ...req.headers, ":authority": req.url.host, "x-forwarded-proto": "http", "x-request-id": "docs-commands", ...(req.body ? { "content-length": String(Buffer.byteLength(req.body)) } : {}) };
  const client = new AuthorizationClient(`127.0.0.1:${opts.grpcPort}`, credentials.createInsecure());
  try {
    const check = await new Promise<CheckResponse>((resolve, reject) =>
      client.check(checkRequest({ method: req.method, path, headers, ...(req.body ? { body: req.body } : {}) }), (err: ServiceError | null, res?: CheckResponse) => (err ? reject(err) : resolve(res!))),
    );
    if (check.status?.code !== 0 || !check.okResponse) return { check };
    const forwarded: Record<string, string> = { ...req.headers };
    for (const h of check.okResponse.headers) if (h.header) forwarded[h.header.key] = h.header.value;
    for (const name of check.okResponse.headersToRemove) delete forwarded[name];
    const upstream = forwarded["x-tollgate-upstream"];
    const base = upstream === undefined ? undefined : opts.upstreams[upstream];
    if (base === undefined) return { check, ...(upstream ? { upstream } : {}) };
    const response = await fetch(new URL(path, base), { method: req.method, headers: forwarded, ...(req.body ? { body: req.body } : {}), signal: AbortSignal.timeout(10_000) });
    return { check, upstream: upstream!, response };
  } finally {
    client.close();
  }
}
