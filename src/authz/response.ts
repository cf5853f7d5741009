import type { HeaderValueOption } from "../gen/envoy/config/core/v3/base.js";
import type { CheckResponse } from "../gen/envoy/service/auth/v3/external_auth.js";
import { bareDecision, type Decision, type Pair } from "./decision.js";

const OK = 0;
const PERMISSION_DENIED = 7;

function headerOptions(pairs: readonly Pair[]): HeaderValueOption[] {
  // append/appendAction stay at their defaults, as opa-envoy-plugin sends them.
  return pairs.map(([key, value]) => ({ header: { key, value, rawValue: Buffer.alloc(0) }, append: undefined, appendAction: 0, keepEmptyValue: false }));
}

/** Writes a Decision into a CheckResponse. Allow fields go upstream; deny fields go to the client. */
export function toCheckResponse(decision: Decision, dynamicMetadata: Record<string, unknown>): CheckResponse {
  if (decision.allowed) {
    return {
      status: { code: OK, message: "", details: [] },
      okResponse: {
        headers: headerOptions(decision.headers),
        headersToRemove: decision.requestHeadersToRemove,
        dynamicMetadata: undefined,
        responseHeadersToAdd: headerOptions(decision.responseHeadersToAdd),
        queryParametersToSet: decision.queryParametersToSet.map(([key, value]) => ({ key, value })),
        queryParametersToRemove: decision.queryParametersToRemove,
      },
      deniedResponse: undefined,
      dynamicMetadata,
    };
  }
  return {
    status: { code: PERMISSION_DENIED, message: "", details: [] },
    deniedResponse: {
      status: { code: decision.httpStatus },
      headers: headerOptions(decision.headers),
      body: decision.body ?? "",
    },
    okResponse: undefined,
    dynamicMetadata,
  };
}

/** A denial tollgate makes itself (bad request, over limit), not the policy. */
export function denial(httpStatus: number, body: string, headers: Pair[] = []): Decision {
  return bareDecision(false, httpStatus, body, headers);
}
