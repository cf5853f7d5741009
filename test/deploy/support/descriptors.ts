import { TollgateError } from "../../../src/errors.js";
import { arr, dig, obj } from "./envoy-checks.js";

/** What Envoy knows about a request when a ratelimit filter runs. */
export interface RequestFacts {
  /** Request headers, lower-case names, as tollgate left them. */
  headers: Readonly<Record<string, string>>;
  /** The trusted client address (use_remote_address: the peer of the connection). */
  remoteAddress: string;
}

export interface DescriptorEntry {
  key: string;
  value: string;
}

/**
 * The descriptors Envoy's ratelimit filter builds from a route's rate_limits, for the action
 * kinds envoy.yaml uses (request_headers, generic_key, remote_address), for one filter stage. Mirrors the
 * documented rules: a request_headers action whose header is absent drops the whole
 * descriptor unless skip_if_absent is set, in which case only that entry is skipped.
 */
export function descriptorsFor(rateLimits: unknown, facts: RequestFacts, stage = 0): DescriptorEntry[][] {
  const out: DescriptorEntry[][] = [];
  for (const limit of arr(rateLimits)) {
    if ((dig(limit, "stage") ?? 0) !== stage) continue;
    const entries: DescriptorEntry[] = [];
    let complete = true;
    for (const action of arr(obj(limit)?.["actions"])) {
      const headers = obj(obj(action)?.["request_headers"]);
      const generic = obj(obj(action)?.["generic_key"]);
      if (headers) {
        const value = facts.headers[String(headers["header_name"]).toLowerCase()];
        if (value !== undefined) entries.push({ key: String(headers["descriptor_key"]), value });
        else if (headers["skip_if_absent"] !== true) complete = false;
      } else if (generic) {
        entries.push({ key: typeof generic["descriptor_key"] === "string" ? generic["descriptor_key"] : "generic_key", value: String(generic["descriptor_value"]) });
      } else if (obj(obj(action)?.["remote_address"])) {
        entries.push({ key: "remote_address", value: facts.remoteAddress });
      } else {
        throw new TollgateError("internal_error", `descriptorsFor: action ${JSON.stringify(action)} is not modelled`);
      }
    }
    if (complete && entries.length > 0) out.push(entries);
  }
  return out;
}
