# What the caller's role allows: models (globs; "*" stops at "/", "**" does not), operations,
# streaming and an output-token cap.
package tollgate.access

import data.tollgate.identity

llm := input.llm

role := identity.role

operation_allowed if llm.operation in role.operations

# The caller's role name (identity.role is its object).
role_name := data.gateway.tenants[identity.tenant].role

# tollgate matches the roles' model globs itself (compiled once per revision, with glob.match's
# semantics) and passes the names of the roles whose globs match llm.model in
# input.llm.model_roles. glob.match here is the fallback for inputs without it: opa eval,
# opa-envoy-plugin, and a revision whose globs tollgate does not translate (src/llm/model-globs.ts).
model_allowed if {
	is_string(llm.model)
	role_name in llm.model_roles
}

model_allowed if {
	is_string(llm.model)
	not llm.model_roles
	some pattern in role.models
	glob.match(pattern, ["/"], llm.model)
}

stream_allowed if not llm.stream
stream_allowed if role.stream == true

cap_exceeded if llm.max_output_tokens > role.max_output_tokens

# Requests that name no max tokens are charged the role's cap.
max_output_tokens := llm.max_output_tokens if is_number(llm.max_output_tokens)

else := role.max_output_tokens

# A body over the proxy's inspection limit (Envoy's max_request_bytes, tollgate's maxBodyBytes)
# arrives cut and unparsed (llm.error.code body_truncated). The shipped choice is to deny it. A role
# with "truncated_body": "allow" admits it on the key and the operation alone: a model the path
# does not name, streaming, the output cap and the prompt guard cannot be checked, and the input
# tokens are unknown (estimated 0): the budgets see the real usage only at the end of the response
# (reconcile), so one such request can take a tenant over its budget, and the next is refused.
truncated_admitted if {
	llm.error.code == "body_truncated"
	role.truncated_body == "allow"
}

model_unchecked if {
	truncated_admitted
	not is_string(llm.model)
}

# Tokens reserved against the budget at admission (corrected to the real usage at the end).
reserved_tokens := llm.estimated_input_tokens + max_output_tokens
