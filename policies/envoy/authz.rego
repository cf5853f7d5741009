# tollgate's LLM gateway policy: identify the tenant, check model, operation, streaming and caps,
# guard prompts, then allow with routing headers, an injected provider credential and
# per-tenant request and token limits. Denials carry a message that tollgate renders in the
# provider's own error JSON, so client SDKs show it as-is.
package envoy.authz

import data.tollgate.access
import data.tollgate.guard
import data.tollgate.identity
import data.tollgate.limits
import data.tollgate.upstream

llm := input.llm

method := input.attributes.request.http.method

is_health if {
	method == "GET"
	concat("/", ["", concat("/", input.parsed_path)]) in data.gateway.health_paths
}

deny(status, reason, message) := {
	"allowed": false,
	"http_status": status,
	"message": message,
	"dynamic_metadata": object.union({"reason": reason}, named_tenant),
}

# Decision lines name the tenant whenever the key identified one, denials included.
named_tenant := {"tenant": identity.tenant} if identity.tenant

else := {}

allow := {"allowed": true} if {
	is_health
} else := deny(403, "not_llm", "only LLM API calls are allowed through this gateway") if {
	not llm
} else := deny(401, "missing_key", "no API key was provided") if {
	not identity.presented
} else := deny(401, "unknown_key", "the API key is not valid") if {
	not identity.tenant
} else := deny(400, "body_truncated", "the request body is too large to inspect") if {
	llm.error.code == "body_truncated"
	not access.truncated_admitted
} else := deny(400, "unreadable_body", llm.error.message) if {
	llm.error
	not access.truncated_admitted
} else := deny(403, "operation_not_allowed", sprintf("operation %s is not allowed for this key", [llm.operation])) if {
	not access.operation_allowed
} else := deny(403, "model_not_allowed", sprintf("model %v is not allowed for this key", [llm.model])) if {
	not access.model_allowed
	not access.model_unchecked
} else := deny(403, "stream_not_allowed", "streaming is not allowed for this key") if {
	not access.stream_allowed
} else := deny(400, "cap_exceeded", sprintf("max output tokens %d exceed this key's cap of %d", [llm.max_output_tokens, access.role.max_output_tokens])) if {
	access.cap_exceeded
} else := object.union(deny(403, "prompt_guard", "the prompt contains content that must not leave the organisation"), {"dynamic_metadata": {"reason": "prompt_guard", "guard_patterns": sort(guard.hits)}}) if {
	count(guard.hits) > 0
} else := granted

granted := {
	"allowed": true,
	"headers": object.union(upstream.plain_headers, {
		"x-tollgate-tenant": identity.tenant,
		"x-tollgate-upstream": upstream.config.cluster,
	}),
	"upstream_secrets": upstream.headers_to_inject,
	"request_headers_to_remove": upstream.remove_headers,
	"query_parameters_to_remove": upstream.remove_query,
	"limits": limits.declared,
	"dynamic_metadata": {
		"reason": allowed_reason,
		"tenant": identity.tenant,
		"provider": llm.provider,
		"model": llm.model,
		"reserved_tokens": access.reserved_tokens,
	},
}

allowed_reason := "allowed_truncated_body" if access.truncated_admitted

else := "allowed"
