# What the caller's role allows: models (globs; "*" stops at "/", "**" does not), operations,
# streaming and an output-token cap.
package tollgate.access

import data.tollgate.identity

llm := input.llm

role := identity.role

operation_allowed if llm.operation in role.operations

model_allowed if {
	is_string(llm.model)
	some pattern in role.models
	glob.match(pattern, ["/"], llm.model)
}

stream_allowed if not llm.stream
stream_allowed if role.stream == true

cap_exceeded if llm.max_output_tokens > role.max_output_tokens

# Requests that name no max tokens are charged the role's cap.
max_output_tokens := llm.max_output_tokens if is_number(llm.max_output_tokens)

else := role.max_output_tokens

# Tokens reserved against the budget at admission.
reserved_tokens := llm.estimated_input_tokens + max_output_tokens
