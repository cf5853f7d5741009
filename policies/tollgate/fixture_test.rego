# The policy tests' own data. Every test runs `with data.gateway as fixture.gateway` (or a variant
# of it), so operators can change every tenant, role, limit, upstream and pattern in data.json
# without touching a test. Nothing here is compiled into the policy (*_test.rego is left out).
package tollgate.fixture

key := "tg-fixture-key"

other_key := "tg-fixture-other-key"

gateway := {
	"tenants": {
		"fixture-co": {
			"role": "tester",
			"api_key_sha256": [crypto.sha256(key)],
			"upstream": "mock-llm",
			"limits": {"requests_per_minute": 7, "tokens_per_minute": 5000, "tokens_per_day": 90000},
		},
		# No upstream override: routed by the request's provider.
		"direct-co": {"role": "tester", "api_key_sha256": [crypto.sha256(other_key)]},
	},
	"roles": {"tester": {
		"models": ["gpt-4o-mini", "claude-3-5-haiku*"],
		"operations": ["chat", "completion", "responses", "embedding"],
		"max_output_tokens": 512,
		"stream": true,
	}},
	"jwt": {"enabled": false, "jwks": "{\"keys\": []}", "issuer": "https://auth.example.com", "audience": "tollgate", "tenant_claim": "tenant"},
	"upstreams": {
		"openai": {"cluster": "openai", "credential": "env:OPENAI_API_KEY"},
		"azure_openai": {"cluster": "azure-openai", "credential": "env:AZURE_OPENAI_API_KEY"},
		"anthropic": {"cluster": "anthropic", "credential": "env:ANTHROPIC_API_KEY"},
		"mistral": {"cluster": "mistral", "credential": "env:MISTRAL_API_KEY"},
		"gemini": {"cluster": "gemini", "credential": "env:GEMINI_API_KEY"},
		"ollama": {"cluster": "ollama", "credential": null},
		"mock-llm": {"cluster": "mock-llm", "credential": null},
	},
	"guard": {
		"patterns": [
			{"name": "private_key", "pattern": "-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"},
			{"name": "aws_access_key", "pattern": "\\b(AKIA|ASIA)[0-9A-Z]{16}\\b"},
			{"name": "gcp_api_key", "pattern": "\\bAIza[0-9A-Za-z_\\-]{35}\\b"},
			{"name": "openai_api_key", "pattern": "\\bsk-(proj-)?[A-Za-z0-9_\\-]{20,}"},
			{"name": "anthropic_api_key", "pattern": "\\bsk-ant-[A-Za-z0-9_\\-]{20,}"},
			{"name": "github_token", "pattern": "\\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\\b"},
			{"name": "bearer_token", "pattern": "(?i)\\bbearer\\s+[A-Za-z0-9\\-._~+/]{20,}=*"},
		],
		"extra_patterns": [],
	},
	"health_paths": ["/healthz"],
}

# The fixture with some members replaced (object.union merges nested objects).
with_changes(changes) := object.union(gateway, changes)
