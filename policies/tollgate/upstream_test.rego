package tollgate.upstream_test

import data.tollgate.fixture
import data.tollgate.upstream

req(provider, headers) := {
	"attributes": {"request": {"http": {"headers": object.union({"authorization": concat(" ", ["Bearer", fixture.other_key])}, headers)}}},
	"parsed_query": {},
	"llm": {"provider": provider},
}

test_anthropic_key_header_and_version if {
	upstream.headers_to_inject == {"x-api-key": "${env:ANTHROPIC_API_KEY}"} with input as req("anthropic", {}) with data.gateway as fixture.gateway
	upstream.plain_headers == {"anthropic-version": "2023-06-01"} with input as req("anthropic", {}) with data.gateway as fixture.gateway
}

test_client_anthropic_version_kept if {
	count(upstream.plain_headers) == 0 with input as req("anthropic", {"anthropic-version": "2024-01-01"}) with data.gateway as fixture.gateway
}

test_gemini_key_header_and_query_key_removed if {
	i := object.union(req("gemini", {}), {"parsed_query": {"key": [fixture.other_key]}})
	upstream.headers_to_inject == {"x-goog-api-key": "${env:GEMINI_API_KEY}"} with input as i with data.gateway as fixture.gateway
	upstream.remove_query == ["key"] with input as i with data.gateway as fixture.gateway
}

test_openai_authorization_overwritten_not_removed if {
	upstream.remove_headers == [] with input as req("openai", {}) with data.gateway as fixture.gateway
}

test_mistral_bearer if {
	upstream.headers_to_inject == {"authorization": "Bearer ${env:MISTRAL_API_KEY}"} with input as req("mistral", {}) with data.gateway as fixture.gateway
}
