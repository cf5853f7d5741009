package envoy.authz_test

import data.envoy.authz
import data.tollgate.fixture

chat(body, headers) := {
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "headers": headers}}},
	"parsed_path": ["v1", "chat", "completions"],
	"parsed_query": {},
	"parsed_body": body,
	"llm": object.union(
		{
			"provider": "openai", "operation": "chat", "model": body.model, "stream": object.get(body, "stream", false),
			"max_output_tokens": object.get(body, "max_tokens", null), "estimated_input_tokens": 12,
			"message_count": 1, "has_tools": false, "has_images": false, "truncated": false,
			"texts": [m.content | some m in body.messages],
		},
		{},
	),
}

hello(model) := {"model": model, "messages": [{"role": "user", "content": "hello"}]}

bearer(key) := {"authorization": concat(" ", ["Bearer", key]), "content-type": "application/json"}

test_tenant_allowed_model if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), bearer(fixture.key)) with data.gateway as fixture.gateway
	d.allowed
	d.headers["x-tollgate-tenant"] == "fixture-co"
	d.headers["x-tollgate-upstream"] == "mock-llm"
	d.request_headers_to_remove == ["authorization"]
}

test_glob_model_allowed if {
	d := authz.allow with input as chat(hello("claude-3-5-haiku-20241022"), bearer(fixture.key)) with data.gateway as fixture.gateway
	d.allowed
}

test_missing_key_is_401 if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), {}) with data.gateway as fixture.gateway
	d.http_status == 401
	d.dynamic_metadata.reason == "missing_key"
}

test_unknown_key_is_401 if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), bearer("tg-wrong")) with data.gateway as fixture.gateway
	d.http_status == 401
	d.dynamic_metadata.reason == "unknown_key"
}

test_x_api_key_header_identifies if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), {"x-api-key": fixture.key}) with data.gateway as fixture.gateway
	d.allowed
	d.request_headers_to_remove == ["x-api-key"]
}

test_disallowed_model_is_403 if {
	d := authz.allow with input as chat(hello("gpt-4o"), bearer(fixture.key)) with data.gateway as fixture.gateway
	d.http_status == 403
	d.dynamic_metadata.reason == "model_not_allowed"
}

test_cap_exceeded_is_400 if {
	d := authz.allow with input as chat(object.union(hello("gpt-4o-mini"), {"max_tokens": 513}), bearer(fixture.key)) with data.gateway as fixture.gateway
	d.http_status == 400
	d.dynamic_metadata.reason == "cap_exceeded"
}

test_stream_not_allowed if {
	d := authz.allow
		with input as chat(object.union(hello("gpt-4o-mini"), {"stream": true}), bearer(fixture.key)) with data.gateway as fixture.gateway
		with data.gateway as fixture.with_changes({"roles": {"tester": {"stream": false}}})
	d.http_status == 403
	d.dynamic_metadata.reason == "stream_not_allowed"
}

test_operation_not_allowed if {
	d := authz.allow
		with input as chat(hello("gpt-4o-mini"), bearer(fixture.key)) with data.gateway as fixture.gateway
		with data.gateway as fixture.with_changes({"roles": {"tester": {"operations": ["embedding"]}}})
	d.dynamic_metadata.reason == "operation_not_allowed"
}

test_prompt_guard_names_pattern_not_text if {
	body := {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "my key is AKIAABCDEFGHIJKLMNOP ok"}]}
	d := authz.allow with input as chat(body, bearer(fixture.key)) with data.gateway as fixture.gateway
	d.http_status == 403
	d.dynamic_metadata.guard_patterns == ["aws_access_key"]
	not contains(json.marshal(d), "AKIAABCDEFGHIJKLMNOP")
}

test_operator_pattern_applies if {
	body := {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "project BLUEBIRD details"}]}
	d := authz.allow
		with input as chat(body, bearer(fixture.key)) with data.gateway as fixture.gateway
		with data.gateway as fixture.with_changes({"guard": {"extra_patterns": [{"name": "codename", "pattern": "BLUEBIRD"}]}})
	d.dynamic_metadata.guard_patterns == ["codename"]
}

test_limits_reserve_input_plus_role_cap if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), bearer(fixture.key)) with data.gateway as fixture.gateway
	{l.name: [l.limit, l.cost, l.unit] | some l in d.limits} == {
		"requests_per_minute": [7, 1, "minute"],
		"tokens_per_minute": [5000, 12 + 512, "minute"],
		"tokens_per_day": [90000, 12 + 512, "day"],
	}
}

test_limits_reserve_requested_max_tokens if {
	d := authz.allow with input as chat(object.union(hello("gpt-4o-mini"), {"max_tokens": 100}), bearer(fixture.key)) with data.gateway as fixture.gateway
	some l in d.limits
	l.name == "tokens_per_minute"
	l.cost == 112
}

test_token_limits_are_reconciled_and_may_stop_a_stream if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), bearer(fixture.key)) with data.gateway as fixture.gateway
	{l.name: [l.reconcile, l.stream_stop] | some l in d.limits} == {
		"requests_per_minute": [false, false],
		"tokens_per_minute": [true, true],
		"tokens_per_day": [true, true],
	}
}

test_tenant_may_keep_streams_running_still_reconciled if {
	d := authz.allow
		with input as chat(hello("gpt-4o-mini"), bearer(fixture.key))
		with data.gateway as fixture.with_changes({"tenants": {"fixture-co": object.union(fixture.gateway.tenants["fixture-co"], {"limits": object.union(fixture.gateway.tenants["fixture-co"].limits, {"stream_stop": false})})}})
	{l.name: [l.reconcile, l.stream_stop] | some l in d.limits} == {
		"requests_per_minute": [false, false],
		"tokens_per_minute": [true, false],
		"tokens_per_day": [true, false],
	}
}

test_real_provider_gets_secret_reference_not_secret if {
	d := authz.allow
		with input as chat(hello("gpt-4o-mini"), bearer(fixture.key)) with data.gateway as fixture.gateway
		with data.gateway as fixture.with_changes({"tenants": {"fixture-co": {"upstream": null}}})
	d.headers["x-tollgate-upstream"] == "openai"
	d.upstream_secrets == {"authorization": "Bearer ${env:OPENAI_API_KEY}"}
	d.request_headers_to_remove == []
}

test_health_probe_allowed if {
	authz.allow.allowed with input as {"attributes": {"request": {"http": {"method": "GET", "path": "/healthz", "headers": {}}}}, "parsed_path": ["healthz"]} with data.gateway as fixture.gateway
}

test_non_llm_call_denied if {
	d := authz.allow with input as {"attributes": {"request": {"http": {"method": "GET", "path": "/admin", "headers": {}}}}, "parsed_path": ["admin"]} with data.gateway as fixture.gateway
	d.dynamic_metadata.reason == "not_llm"
}

test_truncated_body_denied if {
	i := object.union(chat(hello("gpt-4o-mini"), bearer(fixture.key)), {"llm": {"error": {"code": "body_truncated", "message": "cut"}}})
	d := authz.allow with input as i with data.gateway as fixture.gateway
	d.http_status == 400
	d.dynamic_metadata.reason == "body_truncated"
}

# What Envoy sends for a body over max_request_bytes: the first bytes, unparsed, and the full size.
truncated_chat := object.union(chat(hello("gpt-4o-mini"), bearer(fixture.key)), {
	"attributes": {"request": {"http": {"size": "2097152"}}},
	"parsed_body": null,
	"llm": {"model": null, "estimated_input_tokens": 0, "truncated": true, "texts": [], "error": {"code": "body_truncated", "message": "cut"}},
})

allow_truncated := fixture.with_changes({"roles": {"tester": {"truncated_body": "allow"}}})

test_truncated_body_admitted_for_a_role_that_allows_it if {
	d := authz.allow with input as truncated_chat with data.gateway as allow_truncated
	d.allowed
	d.dynamic_metadata.reason == "allowed_truncated_body"
	d.headers["x-tollgate-upstream"] == "mock-llm"

	# The input is unknown (estimated 0): the role's output cap of 512 is reserved, reconciled later.
	d.dynamic_metadata.reserved_tokens == 512
	some l in d.limits
	l.name == "tokens_per_minute"
	l.reconcile == true
}

test_truncated_body_denied_unless_the_role_allows_it if {
	d := authz.allow with input as truncated_chat with data.gateway as fixture.with_changes({"roles": {"tester": {"truncated_body": "deny"}}})
	d.dynamic_metadata.reason == "body_truncated"
}

test_truncated_body_still_needs_a_valid_key if {
	i := object.union(truncated_chat, {"attributes": {"request": {"http": {"headers": bearer("tg-not-a-key")}}}})
	d := authz.allow with input as i with data.gateway as allow_truncated
	d.http_status == 401
}

test_truncated_body_still_checks_a_model_the_path_names if {
	i := object.union(truncated_chat, {"llm": {"model": "gpt-4o"}})
	d := authz.allow with input as i with data.gateway as allow_truncated
	d.dynamic_metadata.reason == "model_not_allowed"
}

test_other_unreadable_bodies_stay_denied_when_truncated_bodies_are_allowed if {
	i := object.union(chat(hello("gpt-4o-mini"), bearer(fixture.key)), {"llm": {"error": {"code": "body_not_json", "message": "x"}}})
	d := authz.allow with input as i with data.gateway as allow_truncated
	d.dynamic_metadata.reason == "unreadable_body"
}

test_denials_name_the_tenant_once_the_key_identified_it if {
	d := authz.allow with input as chat(hello("gpt-4o"), bearer(fixture.key)) with data.gateway as fixture.gateway
	d.dynamic_metadata == {"reason": "model_not_allowed", "tenant": "fixture-co"}
}

test_denials_before_identification_name_no_tenant if {
	d := authz.allow with input as chat(hello("gpt-4o-mini"), bearer("tg-not-a-key")) with data.gateway as fixture.gateway
	d.dynamic_metadata == {"reason": "unknown_key"}
}
